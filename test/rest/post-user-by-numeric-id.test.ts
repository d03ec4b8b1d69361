import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import {
  apiKeyHeader,
  bearer,
  contractValidator,
  expectContractSchema,
  jwtCookie,
  jwtHeader,
  send,
} from './rest-support';

describe('003 POST /v1/api/users/{userId} and POST /api/users/{userId} (JWT only, GenericApiResponse)', () => {
  let memberJwt: string;
  let adminJwt: string;
  const seed = contractValidator('003');

  const app = useApp({ world: true });

  beforeAll(async () => {
    memberJwt = (await app.fixtures.token(app.world.member.id, CredentialKind.JWT)).token;
    adminJwt = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).token;
  });

  const post = (path: string, json: unknown, headers: Record<string, string> = jwtCookie(memberJwt)) =>
    send(app.url, 'POST', path, { json, headers });

  it.each([
    ['/v1/api/users', 'the jwt cookie'],
    ['/api/users', 'the x-jwt-token header'],
  ])(
    'POST %s/{userId} with %s updates every documented field and answers { success: true }',
    async (prefix) => {
      const headers = prefix === '/api/users' ? jwtHeader(memberJwt) : jwtCookie(memberJwt);
      const body = {
        name: 'Jan Jongboom',
        jobTitle: 'Embedded Software Engineer',
        companyName: 'Edge Impulse Inc.',
        experiments: ['new-ui', 'dark-mode'],
        projectsSortOrder: 'last-accessed-desc',
        timezone: 'Europe/Amsterdam',
      };
      const res = await post(`${prefix}/${app.world.member.numericId}`, body, headers);
      expect(res.status).toBe(200);
      expectContractSchema(seed, 'GenericApiResponse', res.body);
      expect(res.body).toEqual({ success: true });
      expect(await app.stored(app.world.member.id)).toMatchObject({
        ...body,
        projectsSortOrder: 'last-accessed-desc',
      });
    },
  );

  it('clears nullable fields sent as null', async () => {
    const res = await post(`/v1/api/users/${app.world.member.numericId}`, {
      jobTitle: null,
      projectsSortOrder: null,
      timezone: null,
    });
    expect(res.body).toEqual({ success: true });
    expect(await app.stored(app.world.member.id)).toMatchObject({
      jobTitle: null,
      projectsSortOrder: null,
      timezone: null,
      companyName: 'Edge Impulse Inc.',
    });
  });

  it('GET returns the 003 fields in camelCase inside GenericApiResponse', async () => {
    await post(`/api/users/${app.world.member.numericId}`, { projectsSortOrder: 'name-asc' });
    const res = await send(app.url, 'GET', `/v1/api/users/${app.world.member.numericId}`, {
      headers: jwtCookie(memberJwt),
    });
    expect(res.status).toBe(200);
    expectContractSchema(seed, 'GenericApiResponse', res.body);
    const stored = await app.stored(app.world.member.id);
    expect(res.body).toEqual({
      success: true,
      user: {
        id: stored.numericId,
        name: stored.name,
        email: stored.email,
        jobTitle: stored.jobTitle,
        companyName: stored.companyName,
        experiments: stored.experiments,
        projectsSortOrder: 'name-asc',
        timezone: stored.timezone,
      },
    });
  });

  it('answers 400 { success: false, error } naming invalid, unknown and mistyped fields', async () => {
    const before = await app.stored(app.world.member.id);
    const cases: Array<[unknown, RegExp]> = [
      [{ projectsSortOrder: 'random' }, /projectsSortOrder must be one of created-asc/],
      [{ timezone: 'Mars/Olympus' }, /timezone must be an IANA time zone/],
      [{ experiments: 'not-a-list' }, /experiments must be a list of strings/],
      [{ experiments: [1, 2] }, /experiments must be a list of strings/],
      [{ name: null }, /name cannot be null/],
      [{ email: 'x@example.com' }, /email is not a field of this endpoint/],
    ];
    for (const [body, message] of cases) {
      const res = await post(`/v1/api/users/${app.world.member.numericId}`, body);
      expect(res.status).toBe(400);
      expectContractSchema(seed, 'GenericApiResponse', res.body);
      expect(res.body).toEqual({ success: false, error: expect.stringMatching(message) });
    }
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('answers 400 for a userId that is not an integer and 404 for an unknown or foreign one', async () => {
    const bad = await post('/v1/api/users/abc', { name: 'X' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      success: false,
      error: expect.stringMatching(/userId must be a positive integer/),
    });
    for (const id of [999999, app.world.outsider.numericId]) {
      const res = await post(`/v1/api/users/${id}`, { name: 'X' });
      expect(res.status).toBe(404);
      expectContractSchema(seed, 'GenericApiResponse', res.body);
      expect(res.body).toEqual({ success: false, error: 'User not found' });
    }
    expect((await app.stored(app.world.outsider.id)).name).toBe('Olga Outsider');
  });

  it('refuses a member updating another user with 403 and lets an admin do it', async () => {
    const before = await app.stored(app.world.viewer.id);
    const refused = await post(`/v1/api/users/${app.world.viewer.numericId}`, { jobTitle: 'X' });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ success: false, error: expect.any(String) });
    expect(await app.stored(app.world.viewer.id)).toEqual(before);
    const ok = await post(
      `/v1/api/users/${app.world.viewer.numericId}`,
      { jobTitle: 'Analyst' },
      jwtCookie(adminJwt),
    );
    expect(ok.body).toEqual({ success: true });
    expect((await app.stored(app.world.viewer.id)).jobTitle).toBe('Analyst');
  });

  it('refuses every credential that is not a JWT in the cookie or x-jwt-token with 401', async () => {
    const before = await app.stored(app.world.member.id);
    const apiKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
    const oauth = (await app.fixtures.token(app.world.member.id, CredentialKind.OAUTH)).token;
    for (const headers of [
      bearer(memberJwt),
      bearer(app.world.memberToken),
      apiKeyHeader(apiKey),
      bearer(oauth),
    ]) {
      const res = await post(`/v1/api/users/${app.world.member.numericId}`, { name: 'Nope' }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^JWT/);
      expectContractSchema(seed, 'GenericApiResponse', res.body);
      expect(res.body).toEqual({ success: false, error: expect.stringMatching(/accepts only a JWT/) });
    }
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('answers 401 with WWW-Authenticate for no credential, a forged JWT or a revoked one', async () => {
    const revoked = await app.fixtures.token(app.world.member.id, CredentialKind.JWT);
    await app.server.services.credentials.revoke(
      { requestId: 't', principal: null, operator: true },
      revoked.id,
    );
    const [header, payload] = memberJwt.split('.');
    for (const headers of [{}, jwtCookie(`${header}.${payload}.forgedsignature`), jwtHeader(revoked.token)]) {
      const res = await post(`/v1/api/users/${app.world.member.numericId}`, { name: 'Nope' }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/x-jwt-token/);
      expect(res.body).toEqual({ success: false, error: expect.any(String) });
    }
  });

  it('answers 405 with Allow and GenericApiResponse for other methods', async () => {
    const res = await send(app.url, 'PATCH', `/api/users/${app.world.member.numericId}`, {
      json: { name: 'x' },
      headers: jwtCookie(memberJwt),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS');
    expect(res.body).toEqual({ success: false, error: expect.any(String) });
  });
});

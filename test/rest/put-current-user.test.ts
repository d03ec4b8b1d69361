import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { useApp } from '../support/harness';
import {
  apiKeyHeader,
  bearer,
  contractValidator,
  expectContractSchema,
  jwtCookie,
  send,
} from './rest-support';

describe('000 PUT /v2/user and PUT /user (update current user with a personal access token)', () => {
  const seed = contractValidator('000');

  const app = useApp({ world: true });

  const put = (
    path: string,
    json: unknown,
    headers: Record<string, string> = bearer(app.world.memberToken),
  ) => send(app.url, 'PUT', path, { json, headers });

  /** A member as the seed User schema shows them: the role as { id: role_<role>, name: '<Human name>' }. */
  const memberAsUser = (user: Pick<User, 'id' | 'name' | 'email'>) => ({
    id: user.id,
    name: user.name,
    email: user.email,
    role: { id: 'role_member', name: 'Member' },
  });

  it.each(['/v2/user', '/user'])(
    'PUT %s renames the caller and answers the seed User schema',
    async (path) => {
      const res = await put(path, { name: `John Smith ${path}` });
      expect(res.status).toBe(200);
      expectContractSchema(seed, 'User', res.body);
      expect(res.body).toEqual(memberAsUser({ ...app.world.member, name: `John Smith ${path}` }));
      expect((await app.stored(app.world.member.id)).name).toBe(`John Smith ${path}`);
    },
  );

  it("answers the role as { id: role_<role>, name: '<Human name>' }", async () => {
    const admin = await put('/v2/user', { name: 'Ada' }, bearer(app.world.adminToken));
    expect(admin.body.role).toEqual({ id: 'role_admin', name: 'Admin' });
    const viewer = await put('/v2/user', { name: 'Vera' }, bearer(app.world.viewerToken));
    expect(viewer.body.role).toEqual({ id: 'role_viewer', name: 'Viewer' });
  });

  it.each(['/v2/user', '/user'])('GET %s returns the same User shape', async (path) => {
    const res = await send(app.url, 'GET', path, { headers: bearer(app.world.memberToken) });
    expect(res.status).toBe(200);
    expectContractSchema(seed, 'User', res.body);
    expect(res.body).toEqual(memberAsUser(await app.stored(app.world.member.id)));
  });

  it('refuses an API key with 401 and says only a personal access token is accepted', async () => {
    const before = await app.stored(app.world.member.id);
    const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY);
    const res = await put('/v2/user', { name: 'Nope' }, bearer(token));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body).toEqual({ code: 401, message: expect.stringMatching(/personal access token.*API key/) });
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it.each([
    ['an OAuth token', CredentialKind.OAUTH],
    ['a JWT', CredentialKind.JWT],
  ])('refuses %s as Authorization: Bearer with 401', async (_label, kind) => {
    const before = await app.stored(app.world.member.id);
    const { token } = await app.fixtures.token(app.world.member.id, kind);
    const res = await put('/v2/user', { name: 'Nope' }, bearer(token));
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/accepts only a personal access token/);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('refuses an API key in x-api-key and a JWT cookie with 401, and on GET too', async () => {
    const { token: key } = await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY);
    const { token: jwt } = await app.fixtures.token(app.world.member.id, CredentialKind.JWT);
    expect((await put('/v2/user', { name: 'Nope' }, apiKeyHeader(key))).status).toBe(401);
    expect((await put('/v2/user', { name: 'Nope' }, jwtCookie(jwt))).status).toBe(401);
    expect((await send(app.url, 'GET', '/v2/user', { headers: apiKeyHeader(key) })).status).toBe(401);
  });

  it('answers 401 with WWW-Authenticate without a credential or with an unknown token', async () => {
    const missing = await put('/v2/user', { name: 'Nope' }, {});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(missing.body).toEqual({ code: 401, message: expect.stringMatching(/personal access token/) });
    const unknown = await put('/v2/user', { name: 'Nope' }, bearer('pat_doesnotexist'));
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('requires name and names the missing field', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await put('/v2/user', {});
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: 400, message: expect.stringContaining('name is required') });
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('refuses a blank name, a non-string name and unknown fields by name with 400', async () => {
    const before = await app.stored(app.world.member.id);
    const blank = await put('/v2/user', { name: '   ' });
    expect(blank.status).toBe(400);
    expect(blank.body.message).toMatch(/name must not be blank/);
    // Characters that show nothing are blank too: a zero-width space, a joiner, the Hangul filler, the
    // braille blank, the combining grapheme joiner, a variation selector, a Khmer inherent vowel.
    for (const name of [
      '\u200b',
      '\u200d\u200b',
      '\u3164',
      ' \u2800 ',
      '\u034f',
      '\ufe0f',
      '\u17b4',
      '\u200b\ufe0f',
    ]) {
      const invisible = await put('/v2/user', { name });
      expect({ name, status: invisible.status, message: invisible.body.message }).toEqual({
        name,
        status: 400,
        message: expect.stringMatching(/name must not be blank/),
      });
    }
    const number = await put('/v2/user', { name: 42 });
    expect(number.body).toEqual({ code: 400, message: expect.stringContaining('name must be a string') });
    const unknown = await put('/v2/user', { name: 'Ok', email: 'x@example.com' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/email is not a field of this endpoint/);
    expect(await app.stored(app.world.member.id)).toEqual(before);
    // A joiner inside a name that shows is kept.
    expect((await put('/v2/user', { name: 'Ann\u200dMarie' })).body.name).toBe('Ann\u200dMarie');
  });

  it('answers 405 with Allow for other methods', async () => {
    const res = await send(app.url, 'PATCH', '/v2/user', {
      json: { name: 'x' },
      headers: bearer(app.world.memberToken),
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, PUT, OPTIONS');
    expect(res.body).toEqual({ code: 405, message: expect.any(String) });
  });
});

import jwt from 'jsonwebtoken';
import { operatorContext } from '../../src/auth/principal';
import { CredentialKind } from '../../src/entities/enums';
import { withAppClockAhead } from '../support/app-globals';
import { TEST_JWT_SECRET, bearer, gql, useApp } from '../support/harness';

const ME = '{ me { id role organization { id } } }';
const UPDATE_ME = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id jobTitle version } }';
const UPDATE_USER =
  'mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id status } }';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('credentials on /graphql', () => {
  const app = useApp({ world: true });

  const me = (headers: Record<string, string>) => gql(app.url, ME, {}, headers);

  /** 401 UNAUTHENTICATED with a WWW-Authenticate header, and no data. */
  const expectUnauthenticated = (res: Awaited<ReturnType<typeof me>>) => {
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body.data ?? null).toBeNull();
  };

  const expectMe = (res: Awaited<ReturnType<typeof me>>, userId: string) => {
    expect(res.body.errors).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.body.data.me.id).toBe(userId);
  };

  /** Signs claims the way the server does, with the test secret, so that only the tested defect differs. */
  const signJwt = (claims: Record<string, unknown>, options: jwt.SignOptions = {}) =>
    jwt.sign(claims, TEST_JWT_SECRET, { algorithm: 'HS256', ...options });

  describe('every kind and place', () => {
    it('accepts a personal access token as Bearer', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.PERSONAL_ACCESS_TOKEN);
      expect(token).toMatch(/^pat_/);
      expectMe(await me(bearer(token)), app.world.member.id);
    });

    it('accepts an API key as Bearer and as x-api-key', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY);
      expect(token).toMatch(/^key_/);
      expectMe(await me(bearer(token)), app.world.member.id);
      expectMe(await me({ 'x-api-key': token }), app.world.member.id);
    });

    it('accepts an OAuth access token as Bearer', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.OAUTH);
      expect(token).toMatch(/^oat_/);
      expectMe(await me(bearer(token)), app.world.member.id);
    });

    it('accepts a JWT as Bearer, as x-jwt-token and as the jwt cookie', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.JWT);
      expectMe(await me(bearer(token)), app.world.member.id);
      expectMe(await me({ 'x-jwt-token': token }), app.world.member.id);
      // Apollo's CSRF prevention lets a JSON POST through: browsers preflight that content type.
      expectMe(await me({ cookie: `theme=dark; jwt=${token}` }), app.world.member.id);
    });

    it('a JWT can mutate', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.JWT);
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'via JWT' } }, bearer(token));
      expect(res.body.data.updateMe.jobTitle).toBe('via JWT');
    });

    it('keeps CSRF prevention on: a GET with only the cookie and no preflight header is blocked', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.JWT);
      const url = `${app.url}/graphql?query=${encodeURIComponent(ME)}`;
      const blocked = await fetch(url, { headers: { cookie: `jwt=${token}` } });
      expect(blocked.status).toBe(400);
      expect(await blocked.text()).toMatch(/CSRF/);

      const preflighted = await fetch(url, {
        headers: { cookie: `jwt=${token}`, 'apollo-require-preflight': 'true' },
      });
      expect(preflighted.status).toBe(200);
      expect(((await preflighted.json()) as any).data.me.id).toBe(app.world.member.id);
      // Chosen by a cookie: no cache may keep the answer, nor serve it for another credential.
      expect(preflighted.headers.get('cache-control')).toBe('private, no-store');
      expect(preflighted.headers.get('vary')).toBe('Accept, Authorization, X-API-Key, X-JWT-Token, Cookie');
    });

    it('no credential: me is UNAUTHENTICATED', async () => {
      const res = await me({});
      expect(res.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      expect(res.body.data ?? null).toBeNull();
    });

    it('no credential: updateMe is UNAUTHENTICATED', async () => {
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'anon' } });
      expect(res.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('ambiguity', () => {
    it('two different credentials in one request are refused, never "the strongest wins"', async () => {
      const pat = (await app.fixtures.token(app.world.member.id)).token;
      const apiKey = (await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY)).token;
      const adminJwt = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).token;
      const memberJwt = (await app.fixtures.token(app.world.member.id, CredentialKind.JWT)).token;
      expectUnauthenticated(await me({ ...bearer(pat), 'x-api-key': apiKey }));
      expectUnauthenticated(await me({ ...bearer(pat), 'x-jwt-token': adminJwt }));
      expectUnauthenticated(await me({ ...bearer(pat), cookie: `jwt=${adminJwt}` }));
      expectUnauthenticated(await me({ 'x-jwt-token': memberJwt, cookie: `jwt=${adminJwt}` }));
      // Even two credentials of the same user are ambiguous.
      const samePersonKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
      expectUnauthenticated(await me({ ...bearer(pat), 'x-api-key': samePersonKey }));
    });

    it('the same credential sent twice is fine', async () => {
      const token = (await app.fixtures.token(app.world.member.id, CredentialKind.JWT)).token;
      expectMe(
        await me({ ...bearer(token), 'x-jwt-token': token, cookie: `jwt=${token}` }),
        app.world.member.id,
      );
      const key = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
      expectMe(await me({ ...bearer(key), 'x-api-key': key }), app.world.member.id);
    });

    it('a credential in the wrong place is refused', async () => {
      const pat = (await app.fixtures.token(app.world.member.id)).token;
      expectUnauthenticated(await me({ 'x-api-key': pat }));
      expectUnauthenticated(await me({ 'x-jwt-token': pat }));
      expectUnauthenticated(await me({ cookie: `jwt=${pat}` }));
    });
  });

  describe('revoked and expired', () => {
    it.each([
      CredentialKind.PERSONAL_ACCESS_TOKEN,
      CredentialKind.API_KEY,
      CredentialKind.OAUTH,
      CredentialKind.JWT,
    ])('a revoked %s credential is refused on the very next request', async (kind) => {
      const { id, token } = await app.fixtures.token(app.world.member.id, kind);
      expectMe(await me(bearer(token)), app.world.member.id);
      await app.server.services.credentials.revoke(operatorContext(), id);
      expectUnauthenticated(await me(bearer(token)));
    });

    it('expired credentials are refused', async () => {
      const issued = await Promise.all(
        [
          CredentialKind.PERSONAL_ACCESS_TOKEN,
          CredentialKind.API_KEY,
          CredentialKind.OAUTH,
          CredentialKind.JWT,
        ].map((kind) => app.fixtures.token(app.world.member.id, kind, { expiresInSeconds: 2 })),
      );
      for (const { token } of issued) expectMe(await me(bearer(token)), app.world.member.id);
      await withAppClockAhead(2200, async () => {
        for (const { token } of issued) expectUnauthenticated(await me(bearer(token)));
      });
    });
  });

  describe('JWTs that must not pass', () => {
    let jti: string;
    beforeAll(async () => {
      jti = (await app.fixtures.token(app.world.member.id, CredentialKind.JWT)).id;
    });
    const validClaims = () => ({
      sub: app.world.member.id,
      jti,
      scope: 'users:read users:write',
      exp: Math.floor(Date.now() / 1000) + 600,
    });

    it('a correctly crafted JWT passes (so the refusals below are about their one defect)', async () => {
      expectMe(await me(bearer(signJwt(validClaims()))), app.world.member.id);
    });

    it('alg none is refused', async () => {
      const header = base64url({ alg: 'none', typ: 'JWT' });
      const payload = base64url(validClaims());
      expectUnauthenticated(await me(bearer(`${header}.${payload}.`)));
      expectUnauthenticated(await me(bearer(`${header}.${payload}.c2lnbmF0dXJl`)));
      expectUnauthenticated(await me({ 'x-jwt-token': `${header}.${payload}.AAAA` }));
    });

    it('a wrong signature is refused', async () => {
      const forged = jwt.sign(validClaims(), 'another-secret-that-is-long-enough-0123456789', {
        algorithm: 'HS256',
      });
      expectUnauthenticated(await me(bearer(forged)));
      const otherAlgorithm = jwt.sign(validClaims(), TEST_JWT_SECRET, { algorithm: 'HS512' });
      expectUnauthenticated(await me(bearer(otherAlgorithm)));
    });

    it('a missing exp is refused', async () => {
      const { exp: _exp, ...claims } = validClaims();
      expectUnauthenticated(await me(bearer(signJwt(claims))));
    });

    it('a past exp is refused', async () => {
      expectUnauthenticated(
        await me(bearer(signJwt({ ...validClaims(), exp: Math.floor(Date.now() / 1000) - 5 }))),
      );
    });

    it('an unknown jti is refused', async () => {
      expectUnauthenticated(await me(bearer(signJwt({ ...validClaims(), jti: 'cred_unknown000000000000' }))));
      const { jti: _jti, ...noJti } = validClaims();
      expectUnauthenticated(await me(bearer(signJwt(noJti))));
    });

    it('a tampered sub is refused, with a valid signature or without', async () => {
      // Re-signed with the right secret: the credential row belongs to someone else.
      expectUnauthenticated(await me(bearer(signJwt({ ...validClaims(), sub: app.world.admin.id }))));
      // The payload swapped under the original signature.
      const [header, , signature] = signJwt(validClaims()).split('.');
      const tampered = `${header}.${base64url({ ...validClaims(), sub: app.world.admin.id })}.${signature}`;
      expectUnauthenticated(await me(bearer(tampered)));
    });

    it('scopes in the claims can only narrow the credential, never widen it', async () => {
      const readOnly = await app.fixtures.token(app.world.member.id, CredentialKind.JWT, {
        scopes: ['users:read'],
      });
      const widened = signJwt({ ...validClaims(), jti: readOnly.id, scope: 'users:read users:write write' });
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'widened' } }, bearer(widened));
      expect(res.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    });

    it('role and organization come from the database, not from claims', async () => {
      const res = await me(
        bearer(signJwt({ ...validClaims(), role: 'admin', organizationId: app.world.otherOrgId })),
      );
      expect(res.body.data.me).toEqual({
        id: app.world.member.id,
        role: 'MEMBER',
        organization: { id: app.world.orgId },
      });
    });
  });

  describe('malformed credentials are 401, never 500', () => {
    it.each([
      ['Basic credentials', { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` }],
      ['garbage', { authorization: 'garbage' }],
      ['Bearer without a token', { authorization: 'Bearer ' }],
      ['an unknown token format', { authorization: 'Bearer not-a-token' }],
      ['an unknown pat', { authorization: 'Bearer pat_doesnotexist' }],
      ['a 10 KB token', { authorization: `Bearer pat_${'a'.repeat(10 * 1024)}` }],
      ['a 10 KB JWT-shaped token', { authorization: `Bearer ${'a'.repeat(5000)}.${'b'.repeat(5000)}.c` }],
      ['non-ASCII', { authorization: 'Bearer pat_\u00e9\u00e8\u00fc' }],
      ['non-ASCII in x-api-key', { 'x-api-key': 'key_\u00ff' }],
      ['a broken JWT', { 'x-jwt-token': 'a.b.c' }],
      ['a garbage jwt cookie', { cookie: 'jwt=%%%' }],
    ])('%s', async (_what, headers) => {
      expectUnauthenticated(await me(headers as Record<string, string>));
    });
  });

  describe('the user behind the credential', () => {
    it('an inactive user is refused with every credential', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      const tokens = await Promise.all(
        [CredentialKind.PERSONAL_ACCESS_TOKEN, CredentialKind.API_KEY, CredentialKind.JWT].map(
          async (kind) => (await app.fixtures.token(user.id, kind)).token,
        ),
      );
      expectMe(await me(bearer(tokens[0])), user.id);
      const res = await gql(
        app.url,
        UPDATE_USER,
        { id: user.id, input: { status: 'INACTIVE' } },
        bearer(app.world.adminToken),
      );
      expect(res.body.data.updateUser.status).toBe('INACTIVE');
      for (const token of tokens) expectUnauthenticated(await me(bearer(token)));
      // Reactivated, the same credentials work again.
      await gql(
        app.url,
        UPDATE_USER,
        { id: user.id, input: { status: 'ACTIVE' } },
        bearer(app.world.adminToken),
      );
      expectMe(await me(bearer(tokens[2])), user.id);
    });
  });

  describe('scopes', () => {
    it.each([
      CredentialKind.PERSONAL_ACCESS_TOKEN,
      CredentialKind.API_KEY,
      CredentialKind.OAUTH,
      CredentialKind.JWT,
    ])('a read-only %s credential can query me but gets FORBIDDEN on updateMe', async (kind) => {
      const { token } = await app.fixtures.token(app.world.member.id, kind, { scopes: ['users:read'] });
      expectMe(await me(bearer(token)), app.world.member.id);
      const before = await app.stored(app.world.member.id);
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'read-only' } }, bearer(token));
      expect(res.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect(res.body.data ?? null).toBeNull();
      expect(await app.stored(app.world.member.id)).toEqual(before);
    });

    it('a read-only credential gets FORBIDDEN on updateUser too, even for an admin', async () => {
      const { token } = await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY, {
        scopes: ['read'],
      });
      const res = await gql(
        app.url,
        UPDATE_USER,
        { id: app.world.member.id, input: { status: 'ACTIVE' } },
        bearer(token),
      );
      expect(res.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    });

    it('a credential with only the write scope can mutate', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY, {
        scopes: ['write'],
      });
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'write scope' } }, bearer(token));
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.updateMe.jobTitle).toBe('write scope');
      expectMe(await me(bearer(token)), app.world.member.id);
    });

    it('a users:write OAuth token can mutate', async () => {
      const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.OAUTH, {
        scopes: ['users:write'],
      });
      const res = await gql(app.url, UPDATE_ME, { input: { jobTitle: 'oauth write' } }, bearer(token));
      expect(res.body.data.updateMe.jobTitle).toBe('oauth write');
    });

    it('unknown scopes cannot be issued', async () => {
      await expect(
        app.fixtures.token(app.world.member.id, CredentialKind.API_KEY, { scopes: ['admin:everything'] }),
      ).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    });

    it('an empty list of scopes is refused, never widened to the default full rights', async () => {
      await expect(
        app.fixtures.token(app.world.member.id, CredentialKind.PERSONAL_ACCESS_TOKEN, { scopes: [] }),
      ).rejects.toMatchObject({
        extensions: { code: 'BAD_USER_INPUT', fields: [{ field: 'scopes', message: expect.any(String) }] },
      });
    });

    it('a credential’s name is 1 to 200 characters without control characters (the column’s size)', async () => {
      for (const name of ['x'.repeat(201), '', 'tab\there'])
        await expect(
          app.services.credentials.issue(operatorContext(), {
            userId: app.world.member.id,
            kind: CredentialKind.PERSONAL_ACCESS_TOKEN,
            name,
          }),
        ).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', fields: [{ field: 'name' }] } });
      const named = await app.services.credentials.issue(operatorContext(), {
        userId: app.world.member.id,
        kind: CredentialKind.PERSONAL_ACCESS_TOKEN,
        name: '\u{1F511}'.repeat(200),
      });
      expect(named.credential.name).toBe('\u{1F511}'.repeat(200));
    });

    it('a lifetime past 100 years is refused with a message, not an invalid date', async () => {
      for (const kind of [CredentialKind.JWT, CredentialKind.OAUTH])
        await expect(
          app.fixtures.token(app.world.member.id, kind, { expiresInSeconds: 99_999_999_999_999 }),
        ).rejects.toMatchObject({
          extensions: {
            code: 'BAD_USER_INPUT',
            fields: [{ field: 'expiresIn', message: expect.stringMatching(/100 years/) }],
          },
        });
    });
  });
});

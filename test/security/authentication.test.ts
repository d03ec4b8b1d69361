import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import { operatorContext } from '../../src/auth/principal';
import { CredentialKind } from '../../src/entities/enums';
import {
  Fixtures,
  TEST_JWT_SECRET,
  TestServer,
  bearer,
  gql,
  startServer,
  useApp,
  withServer,
} from '../support/harness';
import { jwtHeader, send, type RestResponse } from '../rest/rest-support';
import { withAppClockAhead } from '../support/app-globals';
import {
  adminWithCredentials,
  changingBody,
  credentialsFor,
  expectErrorShape,
  restTargets,
  type RestTarget,
} from './security-support';

const ME = '{ me { id } }';
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** UTF-8 bytes sent as they are: fetch takes header values as byte strings. */
const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

/** GraphQL answered as a RestResponse, so the same assertions read both transports. */
async function graphqlMe(url: string, headers: Record<string, string>): Promise<RestResponse> {
  return gql(url, ME, {}, headers);
}

function expectGraphqlUnauthenticated(res: RestResponse) {
  expect(res.status).toBe(401);
  expect(res.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  expect(res.body.data ?? null).toBeNull();
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
}

function expectRestUnauthenticated(target: RestTarget, res: RestResponse) {
  expectErrorShape(target.id, res, 401);
  expect(res.headers.get('www-authenticate')).toBeTruthy();
}

/** The header that carries a credential where `target` takes it. */
function credentialHeaderName(target: RestTarget): string {
  return Object.keys(target.headers)[0];
}

function sendWrite(
  url: string,
  target: RestTarget,
  headers: Record<string, string>,
  json: Record<string, unknown> = target.valid,
) {
  return send(url, target.method, target.path, { headers, json });
}

/** A body that would change the addressed user if the write were accepted. */
const refusedBody = (target: RestTarget) => changingBody(target, 'Written by a refused credential');

describe('authentication', () => {
  let targets: RestTarget[];

  const app = useApp({ world: true });

  beforeAll(async () => {
    targets = restTargets(await credentialsFor(app.fixtures, app.world.admin), app.world.admin);
  });

  describe('malformed, oversized and non-ASCII credentials are 401, never 500', () => {
    const hostile: Array<[string, string]> = [
      ['a 10 KB opaque token', `pat_${'a'.repeat(10 * 1024)}`],
      ['a 10 KB API key', `key_${'k'.repeat(10 * 1024)}`],
      ['a 10 KB JWT-shaped token', `${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`],
      ['non-ASCII (Latin-1)', 'pat_\u00e9\u00e8\u00fc'],
      ['non-ASCII (UTF-8 bytes)', utf8Bytes('key_日本語🔑')],
      ['a tab inside the token', 'pat_a\tb'],
      ['a JWT of garbage', 'eyJ.eyJ.sig'],
      ['a JWT whose parts are not JSON', `${Buffer.from('{nope').toString('base64url')}.e30.AAAA`],
      ['an unknown token format', 'not-a-token'],
      ['an unknown, well-formed API key', `key_${crypto.randomBytes(32).toString('base64url')}`],
    ];

    it.each(hostile)(
      '%s: /graphql answers 401 UNAUTHENTICATED with WWW-Authenticate',
      async (_what, value) => {
        expectGraphqlUnauthenticated(await graphqlMe(app.url, { authorization: `Bearer ${value}` }));
        expectGraphqlUnauthenticated(await graphqlMe(app.url, { 'x-api-key': value }));
        expectGraphqlUnauthenticated(await graphqlMe(app.url, { 'x-jwt-token': value }));
      },
    );

    it.each(hostile)(
      '%s: every REST endpoint answers 401 in its error shape, GET and write, in the place it reads credentials',
      async (_what, value) => {
        for (const target of targets) {
          const name = credentialHeaderName(target);
          const headers = { [name]: name === 'authorization' ? `Bearer ${value}` : value };
          expectRestUnauthenticated(target, await sendWrite(app.url, target, headers));
          expectRestUnauthenticated(target, await send(app.url, 'GET', target.path, { headers }));
        }
      },
    );

    it('a malformed Authorization header (not Bearer, empty, two tokens) is 401 everywhere', async () => {
      const values = ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer a b', `Bearer ${'x'.repeat(10240)}`];
      for (const authorization of values) {
        expectGraphqlUnauthenticated(await graphqlMe(app.url, { authorization }));
        for (const target of targets) {
          expectRestUnauthenticated(target, await sendWrite(app.url, target, { authorization }));
        }
      }
    });

    it('a hostile jwt cookie is 401 on /graphql and on 003', async () => {
      const target = targets.find((t) => t.id === '003')!;
      for (const cookie of ['jwt=%%%', `jwt=${'a'.repeat(10240)}`, `jwt=${encodeURIComponent('é.é.é')}`]) {
        expectGraphqlUnauthenticated(await graphqlMe(app.url, { cookie }));
        expectRestUnauthenticated(target, await sendWrite(app.url, target, { cookie }));
      }
    });

    it('a refused credential changes nothing', async () => {
      const before = await app.stored(app.world.admin.id);
      for (const target of targets) {
        const name = credentialHeaderName(target);
        const refused = { [name]: name === 'authorization' ? 'Bearer pat_x' : 'key_x' };
        expectRestUnauthenticated(target, await sendWrite(app.url, target, refused, refusedBody(target)));
      }
      expect(await app.stored(app.world.admin.id)).toEqual(before);
    });
  });

  describe('revoked and expired credentials on REST', () => {
    it('a revoked credential is refused by every REST endpoint on the very next request', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      const kinds = {
        pat: await app.fixtures.token(user.id, CredentialKind.PERSONAL_ACCESS_TOKEN),
        apiKey: await app.fixtures.token(user.id, CredentialKind.API_KEY),
        jwt: await app.fixtures.token(user.id, CredentialKind.JWT),
      };
      const userTargets = restTargets(
        { pat: kinds.pat.token, apiKey: kinds.apiKey.token, jwt: kinds.jwt.token },
        user,
      );
      for (const target of userTargets) {
        expect([
          target.id,
          (await send(app.url, 'GET', target.path, { headers: target.headers })).status,
        ]).toEqual([target.id, 200]);
      }
      for (const { id } of Object.values(kinds))
        await app.server.services.credentials.revoke(operatorContext(), id);
      for (const target of userTargets) {
        expectRestUnauthenticated(target, await sendWrite(app.url, target, target.headers));
        expectRestUnauthenticated(
          target,
          await send(app.url, 'GET', target.path, { headers: target.headers }),
        );
      }
    });

    it('an expired credential is refused by every REST endpoint and by /graphql', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      const options = { expiresInSeconds: 2 };
      const pat = await app.fixtures.token(user.id, CredentialKind.PERSONAL_ACCESS_TOKEN, options);
      const apiKey = await app.fixtures.token(user.id, CredentialKind.API_KEY, options);
      const jwtToken = await app.fixtures.token(user.id, CredentialKind.JWT, options);
      const userTargets = restTargets({ pat: pat.token, apiKey: apiKey.token, jwt: jwtToken.token }, user);
      // Each credential works until then, on every endpoint (so what follows is about the expiry).
      for (const target of userTargets) {
        const res = await send(app.url, 'GET', target.path, { headers: target.headers });
        expect({ endpoint: target.id, status: res.status }).toEqual({ endpoint: target.id, status: 200 });
      }
      for (const token of [pat.token, apiKey.token, jwtToken.token]) {
        expect((await graphqlMe(app.url, bearer(token))).body.data.me.id).toBe(user.id);
      }
      await withAppClockAhead(2200, async () => {
        for (const target of userTargets) {
          expectRestUnauthenticated(
            target,
            await sendWrite(app.url, target, target.headers, refusedBody(target)),
          );
        }
        for (const token of [pat.token, apiKey.token, jwtToken.token]) {
          expectGraphqlUnauthenticated(await graphqlMe(app.url, bearer(token)));
        }
      });
    });
  });

  describe('JWTs that must not pass, on /graphql and on 003', () => {
    let jti: string;
    let target: RestTarget;
    beforeAll(async () => {
      jti = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).id;
      target = targets.find((t) => t.id === '003')!;
    });
    const claims = () => ({
      sub: app.world.admin.id,
      jti,
      scope: 'users:read users:write',
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    const sign = (payload: object, options: jwt.SignOptions = {}, secret = TEST_JWT_SECRET) =>
      jwt.sign(payload, secret, { algorithm: 'HS256', ...options });
    /** Signs header and payload by hand, so any header can be sent. */
    const handSigned = (header: object, payload: object, secret: string | Buffer = TEST_JWT_SECRET) => {
      const input = `${base64url(header)}.${base64url(payload)}`;
      return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
    };

    const expectRefusedEverywhere = async (token: string) => {
      expectGraphqlUnauthenticated(await graphqlMe(app.url, bearer(token)));
      expectGraphqlUnauthenticated(await graphqlMe(app.url, jwtHeader(token)));
      const before = await app.stored(app.world.admin.id);
      const body = refusedBody(target);
      expectRestUnauthenticated(target, await sendWrite(app.url, target, jwtHeader(token), body));
      expectRestUnauthenticated(target, await sendWrite(app.url, target, { cookie: `jwt=${token}` }, body));
      expect(await app.stored(app.world.admin.id)).toEqual(before);
    };

    it('a correctly signed JWT passes on both (the refusals below are about their one defect)', async () => {
      const token = sign(claims());
      expect((await graphqlMe(app.url, bearer(token))).body.data.me.id).toBe(app.world.admin.id);
      const res = await sendWrite(app.url, target, jwtHeader(token));
      expect(res.body).toEqual({ success: true });
    });

    it('alg none is 401', async () => {
      const header = base64url({ alg: 'none', typ: 'JWT' });
      await expectRefusedEverywhere(`${header}.${base64url(claims())}.AAAA`);
      await expectRefusedEverywhere(`${header}.${base64url(claims())}.${'A'.repeat(43)}`);
    });

    it('a wrong signature is 401', async () => {
      await expectRefusedEverywhere(sign(claims(), {}, 'another-secret-that-is-long-enough-0123456789'));
      const [header, payload, signature] = sign(claims()).split('.');
      const flipped = signature.slice(0, -2) + (signature.endsWith('AA') ? 'BB' : 'AA');
      await expectRefusedEverywhere(`${header}.${payload}.${flipped}`);
      await expectRefusedEverywhere(sign(claims(), { algorithm: 'HS512' }));
    });

    it('a missing exp is 401', async () => {
      const { exp: _exp, ...noExp } = claims();
      await expectRefusedEverywhere(sign(noExp));
    });

    it('a past exp is 401', async () => {
      await expectRefusedEverywhere(sign({ ...claims(), exp: Math.floor(Date.now() / 1000) - 10 }));
    });

    it('a future nbf is 401', async () => {
      await expectRefusedEverywhere(sign({ ...claims(), nbf: Math.floor(Date.now() / 1000) + 300 }));
    });

    it('a kid header pointing anywhere is 401, whatever key signed the token', async () => {
      const places = [
        'https://attacker.example/.well-known/jwks.json',
        '../../../../../../dev/null',
        "x' UNION SELECT 'secret",
        'default',
      ];
      for (const kid of places) {
        // Signed with a key the caller controls, as if the server fetched it from `kid`.
        await expectRefusedEverywhere(
          handSigned({ alg: 'HS256', typ: 'JWT', kid }, claims(), 'attacker-key'),
        );
        await expectRefusedEverywhere(
          handSigned({ alg: 'HS256', typ: 'JWT', kid }, claims(), Buffer.alloc(0)),
        );
        // Even with our own secret: we never issue a kid, so a token naming a key is not ours.
        await expectRefusedEverywhere(handSigned({ alg: 'HS256', typ: 'JWT', kid }, claims()));
      }
      for (const header of [
        { jku: 'https://attacker.example/jwks' },
        { x5u: 'https://attacker.example/c' },
        // Extensions we do not implement change how the token must be read (RFC 7515 §4.1.11).
        { crit: ['exp-check'], 'exp-check': true },
        { b64: false, crit: ['b64'] },
        { b64: false },
      ]) {
        await expectRefusedEverywhere(handSigned({ alg: 'HS256', typ: 'JWT', ...header }, claims()));
      }
    });
  });

  describe('issuer and audience, when configured', () => {
    let configured: TestServer;
    let configuredFixtures: Fixtures;
    let member: Awaited<ReturnType<Fixtures['user']>>;
    let jti: string;

    beforeAll(async () => {
      configured = await startServer({ JWT_ISSUER: 'https://issuer.test', JWT_AUDIENCE: 'users-api-test' });
      configuredFixtures = new Fixtures(configured.services);
      const orgId = await configuredFixtures.org();
      member = await configuredFixtures.user(orgId);
      jti = (await configuredFixtures.token(member.id, CredentialKind.JWT)).id;
    });
    afterAll(() => configured.close());

    const claims = () => ({ sub: member.id, jti, scope: 'users:read users:write' });
    const sign = (options: jwt.SignOptions) =>
      jwt.sign(claims(), TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: 600, ...options });
    const path = () => `/v1/api/users/${member.numericId}`;

    it('issued JWTs carry the configured issuer and audience and pass', async () => {
      const { token } = await configuredFixtures.token(member.id, CredentialKind.JWT);
      expect(jwt.decode(token)).toMatchObject({ iss: 'https://issuer.test', aud: 'users-api-test' });
      expect((await graphqlMe(configured.url, bearer(token))).status).toBe(200);
      const ok = sign({ issuer: 'https://issuer.test', audience: 'users-api-test' });
      expect((await send(configured.url, 'POST', path(), { headers: jwtHeader(ok), json: {} })).body).toEqual(
        {
          success: true,
        },
      );
    });

    it.each([
      ['a wrong issuer', { issuer: 'https://evil.test', audience: 'users-api-test' }],
      ['a wrong audience', { issuer: 'https://issuer.test', audience: 'another-api' }],
      ['no issuer', { audience: 'users-api-test' }],
      ['no audience', { issuer: 'https://issuer.test' }],
    ])('%s is 401 on /graphql and on 003', async (_what, options) => {
      const token = sign(options);
      expectGraphqlUnauthenticated(await graphqlMe(configured.url, bearer(token)));
      const res = await send(configured.url, 'POST', path(), { headers: jwtHeader(token), json: {} });
      expectErrorShape('003', res, 401);
      expect(res.headers.get('www-authenticate')).toBeTruthy();
    });
  });

  describe('failed-authentication budget per client address', () => {
    it('with AUTH_FAILURE_LIMIT_PER_MINUTE=5 the 6th bad attempt on /graphql is 429 RATE_LIMITED, then even a valid credential is refused', () =>
      withServer({ AUTH_FAILURE_LIMIT_PER_MINUTE: '5' }, async (limited) => {
        const limitedFixtures = new Fixtures(limited.services);
        const { admin, credentials } = await adminWithCredentials(limitedFixtures);
        for (let attempt = 1; attempt <= 5; attempt++) {
          expectGraphqlUnauthenticated(await graphqlMe(limited.url, bearer(`pat_wrong${attempt}`)));
        }
        const sixth = await graphqlMe(limited.url, bearer('pat_wrong6'));
        expect(sixth.status).toBe(429);
        expect(sixth.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
        expectRetryAfter(sixth);

        // The right credential from the same address waits for the window too.
        const valid = await graphqlMe(limited.url, bearer(credentials.pat));
        expect(valid.status).toBe(429);
        expect(valid.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
        expect(valid.body.data ?? null).toBeNull();
        expectRetryAfter(valid);

        // Every REST endpoint refuses it as well, in its own error shape, GET and write.
        const before = await limitedFixtures.stored(admin.id);
        for (const target of restTargets(credentials, admin)) {
          for (const res of [
            await sendWrite(limited.url, target, target.headers),
            await send(limited.url, 'GET', target.path, { headers: target.headers }),
          ]) {
            expectErrorShape(target.id, res, 429);
            expectRetryAfter(res);
          }
        }
        expect(await limitedFixtures.stored(admin.id)).toEqual(before);
      }));

    it('bad attempts on REST count too: the 6th is 429 in each endpoint shape with Retry-After', () =>
      withServer({ AUTH_FAILURE_LIMIT_PER_MINUTE: '5' }, async (limited) => {
        const limitedFixtures = new Fixtures(limited.services);
        const { admin, credentials } = await adminWithCredentials(limitedFixtures);
        const limitedTargets = restTargets(credentials, admin);
        // Five failures spread over the endpoints, with credentials each would otherwise take.
        for (const target of limitedTargets) {
          const name = credentialHeaderName(target);
          const wrong =
            name === 'x-api-key' ? 'key_wrong' : name === 'x-jwt-token' ? 'a.b.c' : 'Bearer pat_wrong';
          expectRestUnauthenticated(target, await sendWrite(limited.url, target, { [name]: wrong }));
        }
        for (const target of limitedTargets) {
          const res = await sendWrite(limited.url, target, { authorization: 'Bearer key_wrong' });
          expectErrorShape(target.id, res, 429);
          expectRetryAfter(res);
        }
        const graphql = await graphqlMe(limited.url, bearer(credentials.pat));
        expect(graphql.status).toBe(429);
        expect(graphql.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      }));

    it('a credential that is merely of the wrong kind for an endpoint (401 saying what it takes) does not spend the budget', () =>
      withServer({ AUTH_FAILURE_LIMIT_PER_MINUTE: '2' }, async (limited) => {
        const limitedFixtures = new Fixtures(limited.services);
        const { admin, credentials } = await adminWithCredentials(limitedFixtures);
        for (let i = 0; i < 5; i++) {
          const res = await send(limited.url, 'PUT', '/v2/user', {
            headers: bearer(credentials.apiKey),
            json: { name: admin.name },
          });
          expectErrorShape('000', res, 401);
        }
        expect((await graphqlMe(limited.url, bearer(credentials.pat))).status).toBe(200);
      }));

    it('with AUTH_FAILURE_LIMIT_PER_MINUTE=0 the budget is off', async () => {
      expect(app.server.config.rateLimit.authFailuresPerMinute).toBe(0);
      for (let attempt = 0; attempt < 40; attempt++) {
        expectGraphqlUnauthenticated(await graphqlMe(app.url, bearer(`pat_wrong${attempt}`)));
      }
      const res = await graphqlMe(app.url, bearer(app.world.adminToken));
      expect(res.status).toBe(200);
      expect(res.headers.get('retry-after')).toBeNull();
    });
  });

  describe('secrets are stored only as hashes', () => {
    it('no issued token appears in any column of any table, and opaque secrets are stored as their SHA-256', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      const issued = await Promise.all(
        [
          CredentialKind.PERSONAL_ACCESS_TOKEN,
          CredentialKind.API_KEY,
          CredentialKind.OAUTH,
          CredentialKind.JWT,
        ].map(async (kind) => ({ kind, ...(await app.fixtures.token(user.id, kind)) })),
      );
      // Use every credential once, so last-used bookkeeping and request logs have had their chance.
      for (const { token } of issued) expect((await graphqlMe(app.url, bearer(token))).status).toBe(200);

      const rows: Array<Record<string, unknown>> =
        await app.server.dataSource.query('SELECT * FROM credentials');
      expect(rows.length).toBeGreaterThanOrEqual(issued.length);
      const tables = await tableNames();
      for (const table of tables) {
        const all: Array<Record<string, unknown>> = await app.server.dataSource.query(
          `SELECT * FROM "${table}"`,
        );
        const text = JSON.stringify(all);
        for (const { token } of issued) {
          expect({ table, leaked: text.includes(token) }).toEqual({ table, leaked: false });
          // Not even the random part of an opaque token without its prefix.
          expect({ table, leaked: text.includes(token.slice(4)) }).toEqual({ table, leaked: false });
        }
      }
      for (const { id, kind, token } of issued) {
        const row = rows.find((r) => r.id === id)!;
        const sha256 = crypto.createHash('sha256').update(token).digest('hex');
        expect(row.secret_hash).toBe(kind === CredentialKind.JWT ? null : sha256);
      }
    });

    async function tableNames(): Promise<string[]> {
      const rows: Array<{ name: string }> =
        app.server.database.kind === 'sqlite'
          ? await app.server.dataSource.query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
          : await app.server.dataSource.query(
              `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
            );
      return rows.map((r) => r.name);
    }
  });
});

/** A 429 tells the client when to come back: within the one-minute window, never later. */
function expectRetryAfter(res: RestResponse) {
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  const reset = res.headers.get('ratelimit-reset');
  if (reset !== null) expect(Number(reset)).toBeLessThanOrEqual(60);
}

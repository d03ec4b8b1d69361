/**
 * README promises that had no test sending exactly the promised request. Each `describe` quotes the
 * README sentence it pins; everything runs over real HTTP against the app, on SQLite and on PostgreSQL.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { In } from 'typeorm';
import { CredentialKind, Role, UserStatus } from '../src/entities/enums';
import { IdempotencyKey } from '../src/entities/idempotency-key.entity';
import type { User } from '../src/entities/user.entity';
import { requestFingerprint } from '../src/services/idempotency.service';
import { withAppClockAhead } from './support/app-globals';
import { TEST_JWT_SECRET, bearer, useApp } from './support/harness';
import {
  apiKeyHeader,
  jwtCookie,
  jwtHeader,
  rawRequest,
  send,
  type RawResponse,
  type RestResponse,
} from './support/http';
import {
  changingBody,
  credentialsFor,
  expectErrorShape,
  restTargets,
  type Credentials,
  type RestTarget,
} from './security/security-support';

const ME = '{ me { id } }';
const UPDATE_USER =
  'mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id role name } }';

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A rawRequest answer read like a fetch answer, so the shared assertions apply to both. */
function asRest(raw: RawResponse): RestResponse {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const isJson = headers.get('content-type')?.includes('application/json');
  return { status: raw.status, headers, body: isJson && raw.body ? JSON.parse(raw.body) : raw.body };
}

function expectGraphqlUnauthenticated(res: RestResponse) {
  expect(res.status).toBe(401);
  expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(res.body.data ?? null).toBeNull();
}

/** The one header an endpoint reads its credential from, as restTargets fills it in. */
function credentialHeader(target: RestTarget): [string, string] {
  const entries = Object.entries(target.headers);
  expect(entries).toHaveLength(1);
  return entries[0];
}

describe('README promises', () => {
  const app = useApp({ world: true });

  let admin: Credentials;
  let member: Credentials;

  beforeAll(async () => {
    admin = await credentialsFor(app.fixtures, app.world.admin);
    member = await credentialsFor(app.fixtures, app.world.member);
  });

  /** Every user of the world, read from the database, to show that nothing at all was written. */
  const snapshot = () =>
    Promise.all(
      [app.world.admin, app.world.member, app.world.viewer, app.world.outsider].map((u) => app.stored(u.id)),
    );

  describe('Credentials: "Two different credentials in one request are refused (401)"', () => {
    /** The admin's requests: the by-id endpoints address the member, so only an admin may write there. */
    const adminTargets = () => restTargets(admin, app.world.admin, app.world.member);
    /** The member's requests, endpoint by endpoint in the same order. */
    const memberTargets = () => restTargets(member, app.world.member, app.world.member);

    it('each credential alone is accepted (so the refusals below are about sending two)', async () => {
      for (const target of [...adminTargets(), ...memberTargets()]) {
        const res = await send(app.url, 'GET', target.path, { headers: target.headers });
        expect([target.id, res.status]).toEqual([target.id, 200]);
      }
      expect((await app.gql(ME, {}, bearer(admin.pat))).body.data.me.id).toBe(app.world.admin.id);
      expect((await app.gql(ME, {}, bearer(member.pat))).body.data.me.id).toBe(app.world.member.id);
    });

    it("/graphql: two Authorization headers (an admin's token, then a member's, and the other way round) are 401 and write nothing", async () => {
      const before = await snapshot();
      const pairs: Array<[string, string]> = [
        [admin.pat, member.pat],
        [member.pat, admin.pat],
        [admin.apiKey, member.jwt],
        [admin.pat, admin.apiKey],
      ];
      for (const [first, second] of pairs) {
        const body = JSON.stringify({
          query: UPDATE_USER,
          variables: { id: app.world.member.id, input: { role: 'VIEWER', name: 'Hijacked' } },
        });
        const res = asRest(
          await rawRequest(
            app.url,
            'POST',
            '/graphql',
            { authorization: [`Bearer ${first}`, `Bearer ${second}`] },
            body,
          ),
        );
        expectGraphqlUnauthenticated(res);
        const query = asRest(
          await rawRequest(
            app.url,
            'POST',
            '/graphql',
            { authorization: [`Bearer ${first}`, `Bearer ${second}`] },
            JSON.stringify({ query: ME }),
          ),
        );
        expectGraphqlUnauthenticated(query);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('/graphql: two x-api-key headers or two x-jwt-token headers with different credentials are 401', async () => {
      const otherKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
      const twice: Array<Record<string, string[]>> = [
        { 'x-api-key': [admin.apiKey, otherKey] },
        { 'x-api-key': [otherKey, admin.apiKey] },
        { 'x-jwt-token': [admin.jwt, member.jwt] },
        { 'x-jwt-token': [member.jwt, admin.jwt] },
      ];
      for (const headers of twice) {
        const before = await snapshot();
        const res = asRest(
          await rawRequest(
            app.url,
            'POST',
            '/graphql',
            headers,
            JSON.stringify({
              query: UPDATE_USER,
              variables: { id: app.world.member.id, input: { role: 'VIEWER' } },
            }),
          ),
        );
        expectGraphqlUnauthenticated(res);
        expect(await snapshot()).toEqual(before);
      }
    });

    it("every REST endpoint: the admin's credential header followed by the member's (and the reverse) is 401 in its error shape, GET and write, and writes nothing", async () => {
      const before = await snapshot();
      const admins = adminTargets();
      const members = memberTargets();
      for (let i = 0; i < admins.length; i++) {
        const [name, adminValue] = credentialHeader(admins[i]);
        const [memberName, memberValue] = credentialHeader(members[i]);
        expect(memberName).toBe(name);
        for (const values of [
          [adminValue, memberValue],
          [memberValue, adminValue],
        ]) {
          const write = asRest(
            await rawRequest(
              app.url,
              admins[i].method,
              admins[i].path,
              { [name]: values },
              JSON.stringify(changingBody(admins[i], 'Hijacked')),
            ),
          );
          expectErrorShape(admins[i].id, write, 401);
          const read = asRest(await rawRequest(app.url, 'GET', admins[i].path, { [name]: values }));
          expectErrorShape(admins[i].id, read, 401);
        }
      }
      // Role changes too (only an admin may make them): 002 and 004 on the member.
      for (const target of admins.filter((t) => t.id === '002' || t.id === '004')) {
        const [name, adminValue] = credentialHeader(target);
        const [, memberValue] = credentialHeader(members.find((t) => t.id === target.id)!);
        const res = asRest(
          await rawRequest(
            app.url,
            target.method,
            target.path,
            { [name]: [adminValue, memberValue] },
            JSON.stringify({ role: 'viewer' }),
          ),
        );
        expectErrorShape(target.id, res, 401);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('every REST endpoint: two Authorization headers are 401 even where the endpoint reads its credential elsewhere', async () => {
      const before = await snapshot();
      for (const target of adminTargets()) {
        const res = asRest(
          await rawRequest(
            app.url,
            target.method,
            target.path,
            { ...target.headers, authorization: [`Bearer ${admin.pat}`, `Bearer ${member.pat}`] },
            JSON.stringify(changingBody(target, 'Hijacked')),
          ),
        );
        expectErrorShape(target.id, res, 401);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('every REST endpoint: its own credential plus a different one in another header (Authorization, x-api-key, x-jwt-token, jwt cookie) is 401 and writes nothing', async () => {
      const before = await snapshot();
      const seconds: Array<[string, Record<string, string>]> = [
        ["the member's PAT as Bearer", bearer(member.pat)],
        ["the member's API key in x-api-key", apiKeyHeader(member.apiKey)],
        ["the member's JWT in x-jwt-token", jwtHeader(member.jwt)],
        ["the member's JWT in the jwt cookie", jwtCookie(member.jwt)],
        ["the admin's own API key in x-api-key", apiKeyHeader(admin.apiKey)],
        ["the admin's own PAT as Bearer", bearer(admin.pat)],
      ];
      for (const target of adminTargets()) {
        const [name, value] = credentialHeader(target);
        for (const [what, second] of seconds) {
          const [secondName, secondValue] = Object.entries(second)[0];
          // Another credential in the endpoint's own header is the case above; the same one is not two.
          if (secondName === name || secondValue.endsWith(value.replace(/^Bearer /, ''))) continue;
          const headers = { [name]: value, ...second };
          const res = await send(app.url, target.method, target.path, {
            headers,
            json: changingBody(target, 'Hijacked'),
          });
          expect([target.id, what, res.status]).toEqual([target.id, what, 401]);
          expectErrorShape(target.id, res, 401);
          const read = await send(app.url, 'GET', target.path, { headers });
          expect([target.id, what, read.status]).toEqual([target.id, what, 401]);
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it("/graphql: the admin's Authorization and the member's x-api-key cannot update the member's role", async () => {
      const before = await snapshot();
      for (const headers of [
        { ...bearer(admin.pat), ...apiKeyHeader(member.apiKey) },
        { ...bearer(member.pat), ...apiKeyHeader(admin.apiKey) },
        { ...bearer(admin.pat), ...jwtHeader(member.jwt) },
      ]) {
        expectGraphqlUnauthenticated(
          await app.gql(UPDATE_USER, { id: app.world.member.id, input: { role: 'VIEWER' } }, headers),
        );
      }
      expect(await snapshot()).toEqual(before);
    });

    it('two different JWTs in the jwt cookie (two Cookie headers, or one naming jwt twice) are 401 on /graphql and on 003, and write nothing', async () => {
      // A user of its own, so that a request wrongly carried out here leaves the other tests' world alone.
      const victim = await app.fixtures.user(app.world.orgId, { role: Role.MEMBER });
      const victimJwt = (await app.fixtures.token(victim.id, CredentialKind.JWT)).token;
      const before = await app.stored(victim.id);
      const answers: Array<{ request: string; status: number }> = [];
      for (const [order, first, second] of [
        ["admin's, then member's", admin.jwt, victimJwt],
        ["member's, then admin's", victimJwt, admin.jwt],
      ] as const) {
        for (const [form, cookie] of [
          ['one Cookie header', `jwt=${first}; jwt=${second}`],
          ['two Cookie headers', [`jwt=${first}`, `jwt=${second}`]],
        ] as const) {
          const graphql = asRest(
            await rawRequest(
              app.url,
              'POST',
              '/graphql',
              { cookie: [cookie].flat() },
              JSON.stringify({ query: UPDATE_USER, variables: { id: victim.id, input: { role: 'VIEWER' } } }),
            ),
          );
          answers.push({
            request: `POST /graphql updateUser role, ${form}, ${order}`,
            status: graphql.status,
          });
          if (graphql.status === 401) expectGraphqlUnauthenticated(graphql);
          const rest = asRest(
            await rawRequest(
              app.url,
              'POST',
              `/v1/api/users/${victim.numericId}`,
              { cookie: [cookie].flat() },
              JSON.stringify({ jobTitle: 'Hijacked' }),
            ),
          );
          answers.push({ request: `POST 003 jobTitle, ${form}, ${order}`, status: rest.status });
          if (rest.status === 401) expectErrorShape('003', rest, 401);
        }
      }
      expect(answers).toEqual(answers.map(({ request }) => ({ request, status: 401 })));
      expect(await app.stored(victim.id)).toEqual(before);
    });
  });

  describe('Credentials: "…are refused (401), as are … inactive users"', () => {
    it('every REST endpoint answers an inactive user 401 in its error shape, GET and write, and writes nothing', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      const targets = restTargets(await credentialsFor(app.fixtures, user), user);
      for (const target of targets) {
        const res = await send(app.url, 'GET', target.path, { headers: target.headers });
        expect([target.id, res.status]).toEqual([target.id, 200]);
      }
      const deactivated = await app.gql(
        UPDATE_USER,
        { id: user.id, input: { status: 'INACTIVE' } },
        bearer(app.world.adminToken),
      );
      expect(deactivated.body.errors).toBeUndefined();
      const before = await app.stored(user.id);
      expect(before.status).toBe(UserStatus.INACTIVE);
      for (const target of targets) {
        const write = await send(app.url, target.method, target.path, {
          headers: target.headers,
          json: changingBody(target, 'Still here'),
        });
        expectErrorShape(target.id, write, 401);
        expect(write.headers.get('www-authenticate')).toBeTruthy();
        expectErrorShape(
          target.id,
          await send(app.url, 'GET', target.path, { headers: target.headers }),
          401,
        );
      }
      expect(await app.stored(user.id)).toEqual(before);
    });
  });

  describe('Authentication: JWTs with "any header naming a key (kid, jku, x5u, jwk, x5c, x5t …) are all 401"', () => {
    let jti: string;
    beforeAll(async () => {
      jti = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).id;
    });
    /** Signs header and payload with the server's own secret, so the key header is the one defect. */
    const handSigned = (extraHeader: Record<string, unknown>) => {
      const header = { alg: 'HS256', typ: 'JWT', ...extraHeader };
      const claims = {
        sub: app.world.admin.id,
        jti,
        scope: 'users:read users:write',
        exp: Math.floor(Date.now() / 1000) + 600,
      };
      const input = `${base64url(header)}.${base64url(claims)}`;
      return `${input}.${crypto.createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
    };
    const path003 = () => `/v1/api/users/${app.world.admin.numericId}`;

    it('the same token without a key header passes (so the refusals are about the header)', async () => {
      const token = handSigned({});
      expect((await app.gql(ME, {}, bearer(token))).body.data.me.id).toBe(app.world.admin.id);
      const res = await send(app.url, 'POST', path003(), { headers: jwtHeader(token), json: {} });
      expect(res.body).toEqual({ success: true });
    });

    it.each([
      ['jwk', { jwk: { kty: 'oct', k: Buffer.from(TEST_JWT_SECRET).toString('base64url') } }],
      ['x5c', { x5c: ['MIIBszCCAVmgAwIBAgIUQ'] }],
      ['x5t', { x5t: 'dGhpcyBpcyBhIHRodW1icHJpbnQ' }],
      ['x5t#S256', { 'x5t#S256': 'dGhpcyBpcyBhIHRodW1icHJpbnQ' }],
    ])(
      'a %s header is 401 on /graphql (Bearer, x-jwt-token, cookie) and on 003, and writes nothing',
      async (_name, header) => {
        const token = handSigned(header);
        const before = await app.stored(app.world.admin.id);
        for (const headers of [bearer(token), jwtHeader(token), jwtCookie(token)]) {
          expectGraphqlUnauthenticated(await app.gql(ME, {}, headers));
        }
        for (const headers of [jwtHeader(token), jwtCookie(token)]) {
          const res = await send(app.url, 'POST', path003(), { headers, json: { jobTitle: 'Key header' } });
          expectErrorShape('003', res, 401);
          expect(res.headers.get('www-authenticate')).toBeTruthy();
        }
        expect(await app.stored(app.world.admin.id)).toEqual(before);
      },
    );
  });

  describe('Authentication: a remembered JWT\'s "exp is still checked on every request"', () => {
    it('a JWT accepted before its exp is refused with 401 after it, on /graphql and on 003', async () => {
      const user = await app.fixtures.user(app.world.orgId);
      // A credential row that does not expire: only the token's own exp can end it.
      const { id: jti } = await app.fixtures.token(user.id, CredentialKind.JWT);
      const exp = Math.floor(Date.now() / 1000) + 3;
      const claims = { sub: user.id, jti, scope: 'users:read users:write', exp };
      const header = base64url({ alg: 'HS256', typ: 'JWT' });
      const input = `${header}.${base64url(claims)}`;
      const token = `${input}.${crypto.createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url')}`;
      const path003 = `/v1/api/users/${user.numericId}`;

      // Twice each, so the token is remembered by the time it expires.
      for (let i = 0; i < 2; i++) {
        expect((await app.gql(ME, {}, bearer(token))).body.data.me.id).toBe(user.id);
        const ok = await send(app.url, 'POST', path003, { headers: jwtHeader(token), json: {} });
        expect(ok.body).toEqual({ success: true });
      }
      const before = await app.stored(user.id);
      await withAppClockAhead((exp + 1) * 1000 - Date.now(), async () => {
        expectGraphqlUnauthenticated(await app.gql(ME, {}, bearer(token)));
        expectGraphqlUnauthenticated(await app.gql(ME, {}, jwtHeader(token)));
        const res = await send(app.url, 'POST', path003, {
          headers: jwtHeader(token),
          json: { jobTitle: 'After exp' },
        });
        expectErrorShape('003', res, 401);
      });
      expect(await app.stored(user.id)).toEqual(before);
    });
  });

  describe('REST common rules: "Content-Type: application/json (PATCH also takes application/merge-patch+json), else 415"', () => {
    it('PUT 000 and POST 003 answer application/merge-patch+json with 415 in their error shape and write nothing', async () => {
      const before = await snapshot();
      for (const target of restTargets(admin, app.world.admin, app.world.member)) {
        if (target.method === 'PATCH') continue;
        const res = await send(app.url, target.method, target.path, {
          headers: { ...target.headers, 'content-type': 'application/merge-patch+json' },
          raw: JSON.stringify(changingBody(target, 'Merge patched')),
        });
        expectErrorShape(target.id, res, 415);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('the PATCH endpoints 001, 002 and 004 take application/merge-patch+json', async () => {
      for (const target of restTargets(admin, app.world.admin, app.world.member)) {
        if (target.method !== 'PATCH') continue;
        const res = await send(app.url, target.method, target.path, {
          headers: { ...target.headers, 'content-type': 'application/merge-patch+json' },
          raw: JSON.stringify(target.valid),
        });
        expect([target.id, res.status]).toEqual([target.id, 200]);
      }
    });
  });

  describe('Configuration: settings the README restricts are refused, never taken as they are', () => {
    const env = (extra: Record<string, string>) => ({
      DATA_DIR: path.join(os.tmpdir(), 'readme-promises-config'),
      ...extra,
    });

    it('"JWT_SECRET … (at least 32 characters)": 31 characters are refused, 32 accepted', () => {
      expect(() => loadConfig(env({ JWT_SECRET: 'x'.repeat(31) }))).toThrow(/JWT_SECRET/);
      expect(loadConfig(env({ JWT_SECRET: 'x'.repeat(32) })).jwt.secret).toBe('x'.repeat(32));
    });

    it('"JWT_ALGORITHM: the one accepted algorithm: HS256, HS384 or HS512": others are refused', () => {
      for (const algorithm of ['none', 'RS256', 'ES256', 'HS1']) {
        expect(() => loadConfig(env({ JWT_ALGORITHM: algorithm }))).toThrow(/JWT_ALGORITHM/);
      }
      for (const algorithm of ['HS256', 'HS384', 'HS512']) {
        expect(loadConfig(env({ JWT_ALGORITHM: algorithm })).jwt.algorithm).toBe(algorithm);
      }
    });

    it('"RATE_LIMIT_STORE … postgres … needs a postgres:// DATABASE_URL": with SQLite it is refused', () => {
      expect(() =>
        loadConfig(env({ RATE_LIMIT_STORE: 'postgres', DATABASE_URL: 'sqlite:/tmp/never.sqlite' })),
      ).toThrow(/RATE_LIMIT_STORE/);
      expect(() => loadConfig(env({ RATE_LIMIT_STORE: 'redis' }))).toThrow(/RATE_LIMIT_STORE/);
    });
  });
});

describe('Idempotency: "while the first request runs, 409"; IDEMPOTENCY_ABANDONED_AFTER_SECONDS: "a retry may take over"', () => {
  // Shorter than the default (60 s): claims older than this, and younger than the default, are abandoned.
  const WINDOW_SECONDS = 30;
  const app = useApp({ world: true, env: { IDEMPOTENCY_ABANDONED_AFTER_SECONDS: String(WINDOW_SECONDS) } });

  it('a write whose key is held by a request still running gets 409 in its error shape on every endpoint and writes nothing; once the holder is abandoned, the retry is carried out', async () => {
    const caller = app.world.admin;
    const target: User = app.world.member;
    const pat = await app.fixtures.token(caller.id, CredentialKind.PERSONAL_ACCESS_TOKEN);
    const apiKey = await app.fixtures.token(caller.id, CredentialKind.API_KEY);
    const jwtToken = await app.fixtures.token(caller.id, CredentialKind.JWT);
    const credentialIds: Record<string, string> = {
      '000': pat.id,
      '001': apiKey.id,
      '002': apiKey.id,
      '003': jwtToken.id,
      '004': pat.id,
    };
    const targets = restTargets(
      { pat: pat.token, apiKey: apiKey.token, jwt: jwtToken.token },
      caller,
      target,
    );
    const requests = targets.map((t) => ({
      target: t,
      key: `held-${t.id}-${crypto.randomUUID()}`,
      body: changingBody(t, `Held ${t.id}`),
    }));

    const before = await Promise.all([app.stored(caller.id), app.stored(target.id)]);
    const claims: string[] = [];
    for (const { target: t, key, body } of requests) {
      // The first request with this key has claimed it and is still running (neither wrote nor answered).
      const fingerprint = requestFingerprint(t.method, `${t.path} `, JSON.stringify(body));
      const claim = await app.services.idempotency.start(credentialIds[t.id], key, fingerprint);
      if (claim.outcome !== 'proceed') throw new Error(`expected proceed, got ${claim.outcome}`);
      claims.push(claim.claimId);
      const res = await send(app.url, t.method, t.path, {
        headers: { ...t.headers, 'idempotency-key': key },
        json: body,
      });
      expectErrorShape(t.id, res, 409);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
    }
    expect(await Promise.all([app.stored(caller.id), app.stored(target.id)])).toEqual(before);

    // The holders never finish: their claims age past the window (dated back, rather than waited for).
    const longAgo = new Date(Date.now() - (WINDOW_SECONDS + 15) * 1000).toISOString();
    await app.services.db.write((m) => m.update(IdempotencyKey, { id: In(claims) }, { createdAt: longAgo }));
    const answers: Record<string, RestResponse> = {};
    for (const { target: t, key, body } of requests) {
      const res = await send(app.url, t.method, t.path, {
        headers: { ...t.headers, 'idempotency-key': key },
        json: body,
      });
      expect([t.id, res.status]).toEqual([t.id, 200]);
      answers[t.id] = res;
    }
    // Each retry was carried out: 000's name (then 001's) on the caller, 002, 003 and 004 on the target.
    expect(answers['000'].body.name).toBe('Held 000');
    const [callerAfter, targetAfter] = await Promise.all([app.stored(caller.id), app.stored(target.id)]);
    expect(callerAfter.name).toBe('Held 001');
    expect(targetAfter).toMatchObject({ firstName: 'Held 002', jobTitle: 'Held 003', name: 'Held 004' });
  });
});

import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { apiKeyHeader, bearer, jwtHeader, send } from '../rest/rest-support';
import { Fixtures, TestServer, gql, startServer } from '../support/harness';

/** One documented endpoint as this file drives it: where, with which credential, and its 412 body. */
interface Endpoint {
  id: string;
  method: string;
  path(user: User): string;
  headers: Record<string, string>;
  /** A body that really changes the user (distinct for each `n`). */
  body(n: number): Record<string, unknown>;
  /** The endpoint's own error shape for a failed precondition. */
  preconditionFailed: unknown;
  /** Whether the endpoint changes the caller (so each endpoint gets its own user). */
  self: boolean;
}

describe('optimistic concurrency: ETag, If-Match and expectedVersion', () => {
  let server: TestServer;
  let fixtures: Fixtures;
  let endpoints: Array<Endpoint & { user: User }>;
  let adminToken: string;

  beforeAll(async () => {
    server = await startServer();
    fixtures = new Fixtures(server.services);
    const orgId = await fixtures.org('Versioned');
    const admin = await fixtures.user(orgId, { role: Role.ADMIN });
    adminToken = (await fixtures.token(admin.id)).token;
    const adminKey = (await fixtures.token(admin.id, CredentialKind.API_KEY)).token;
    const adminJwt = (await fixtures.token(admin.id, CredentialKind.JWT)).token;
    const users: User[] = [];
    for (let i = 0; i < 5; i++) users.push(await fixtures.user(orgId));
    const ownPat = (await fixtures.token(users[0].id)).token;
    const ownKey = (await fixtures.token(users[1].id, CredentialKind.API_KEY)).token;
    const table: Endpoint[] = [
      {
        id: '000 PUT /v2/user',
        method: 'PUT',
        path: () => '/v2/user',
        headers: bearer(ownPat),
        body: (n) => ({ name: `Name ${n}` }),
        preconditionFailed: { code: 412, message: expect.any(String) },
        self: true,
      },
      {
        id: '001 PATCH /v1/users/me',
        method: 'PATCH',
        path: () => '/v1/users/me',
        headers: apiKeyHeader(ownKey),
        body: (n) => ({ name: `Name ${n}` }),
        preconditionFailed: { status: 412, message: expect.any(String) },
        self: true,
      },
      {
        id: '002 PATCH /v1/users/{user_id}',
        method: 'PATCH',
        path: (user) => `/v1/users/${user.id}`,
        headers: bearer(adminKey),
        body: (n) => ({ first_name: `First ${n}` }),
        preconditionFailed: { error: 'precondition_failed', message: expect.any(String) },
        self: false,
      },
      {
        id: '003 POST /v1/api/users/{userId}',
        method: 'POST',
        path: (user) => `/v1/api/users/${user.numericId}`,
        headers: jwtHeader(adminJwt),
        body: (n) => ({ jobTitle: `Job ${n}` }),
        preconditionFailed: { success: false, error: expect.any(String) },
        self: false,
      },
      {
        id: '004 PATCH /api/v1/users/{id}',
        method: 'PATCH',
        path: (user) => `/api/v1/users/${user.id}`,
        headers: bearer(adminToken),
        body: (n) => ({ name: `Name ${n}`, metadata: { n } }),
        preconditionFailed: { errors: [{ message: expect.any(String) }] },
        self: false,
      },
    ];
    endpoints = table.map((endpoint, i) => ({ ...endpoint, user: users[i] }));
  });
  afterAll(() => server.close());

  const call = (e: Endpoint & { user: User }, method: string, extra: Record<string, string>, n = 0) =>
    send(server.url, method, e.path(e.user), {
      headers: { ...e.headers, ...extra },
      json: method === 'GET' ? undefined : e.body(n),
    });
  let counter = 0;
  const next = () => ++counter;

  it('every REST user response, GET and write on each of the five endpoints, carries ETag "<version>"', async () => {
    for (const e of endpoints) {
      const before = await fixtures.stored(e.user.id);
      const read = await call(e, 'GET', {});
      expect({ endpoint: e.id, status: read.status, etag: read.headers.get('etag') }).toEqual({
        endpoint: e.id,
        status: 200,
        etag: `"${before.version}"`,
      });
      const written = await call(e, e.method, {}, next());
      const after = await fixtures.stored(e.user.id);
      expect(after.version).toBe(before.version + 1);
      expect({ endpoint: e.id, status: written.status, etag: written.headers.get('etag') }).toEqual({
        endpoint: e.id,
        status: 200,
        etag: `"${after.version}"`,
      });
    }
  });

  it('an If-Match that does not match gets 412 in the endpoint error shape and changes nothing', async () => {
    for (const e of endpoints) {
      const before = await fixtures.stored(e.user.id);
      for (const ifMatch of [`"${before.version - 1}"`, `"${before.version + 1}"`, 'W/"0"', 'garbage']) {
        const res = await call(e, e.method, { 'if-match': ifMatch }, next());
        expect({ endpoint: e.id, ifMatch, status: res.status, body: res.body }).toEqual({
          endpoint: e.id,
          ifMatch,
          status: 412,
          body: e.preconditionFailed,
        });
        expect(await fixtures.stored(e.user.id)).toEqual(before);
      }
    }
  });

  it('a matching If-Match succeeds and the new ETag is the next version', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const version = Number(JSON.parse(etag));
      const res = await call(e, e.method, { 'if-match': etag }, next());
      expect({ endpoint: e.id, status: res.status, etag: res.headers.get('etag') }).toEqual({
        endpoint: e.id,
        status: 200,
        etag: `"${version + 1}"`,
      });
      // A weak form of the current ETag matches too, and `*` is unconditional.
      const weak = await call(e, e.method, { 'if-match': `W/"${version + 1}"` }, next());
      expect(weak.headers.get('etag')).toBe(`"${version + 2}"`);
      const any = await call(e, e.method, { 'if-match': '*' }, next());
      expect(any.headers.get('etag')).toBe(`"${version + 3}"`);
      expect((await fixtures.stored(e.user.id)).version).toBe(version + 3);
      // The ETag it had before is now stale.
      expect((await call(e, e.method, { 'if-match': etag }, next())).status).toBe(412);
    }
  });

  it('of two writers holding the same ETag, exactly one wins and the other gets 412', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const results = await Promise.all(
        [next(), next()].map((n) => call(e, e.method, { 'if-match': etag }, n)),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      expect((await fixtures.stored(e.user.id)).version).toBe(Number(JSON.parse(etag)) + 1);
    }
  });

  const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $v: Int) {
    updateUser(id: $id, input: $input, expectedVersion: $v) { id jobTitle version } }`;
  const UPDATE_ME = `mutation ($input: UpdateMeInput!, $v: Int) {
    updateMe(input: $input, expectedVersion: $v) { id jobTitle version } }`;

  it('GraphQL updateUser with a stale expectedVersion answers CONFLICT with the current version', async () => {
    const target = endpoints[2].user;
    const before = await fixtures.stored(target.id);
    const stale = await gql(
      server.url,
      UPDATE_USER,
      { id: target.id, input: { jobTitle: 'stale' }, v: before.version - 1 },
      bearer(adminToken),
    );
    expect(stale.body.data).toBeNull();
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      currentVersion: before.version,
    });
    expect(await fixtures.stored(target.id)).toEqual(before);

    const fresh = await gql(
      server.url,
      UPDATE_USER,
      { id: target.id, input: { jobTitle: 'fresh' }, v: before.version },
      bearer(adminToken),
    );
    expect(fresh.body.errors).toBeUndefined();
    expect(fresh.body.data.updateUser).toMatchObject({ jobTitle: 'fresh', version: before.version + 1 });
  });

  it('GraphQL updateMe with a stale expectedVersion answers CONFLICT with the current version', async () => {
    const target = endpoints[0].user;
    const token = endpoints[0].headers.authorization.replace('Bearer ', '');
    const before = await fixtures.stored(target.id);
    const stale = await gql(
      server.url,
      UPDATE_ME,
      { input: { jobTitle: 'stale' }, v: before.version + 5 },
      bearer(token),
    );
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'version',
      currentVersion: before.version,
    });
    expect(await fixtures.stored(target.id)).toEqual(before);
    const fresh = await gql(
      server.url,
      UPDATE_ME,
      { input: { jobTitle: 'fresh' }, v: before.version },
      bearer(token),
    );
    expect(fresh.body.data.updateMe).toMatchObject({ jobTitle: 'fresh', version: before.version + 1 });
  });
});

import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { apiKeyHeader, bearer, jwtHeader, send } from '../rest/rest-support';
import { gql, useApp } from '../support/harness';

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
  let endpoints: Array<Endpoint & { user: User }>;
  let adminToken: string;

  const app = useApp();

  beforeAll(async () => {
    const orgId = await app.fixtures.org('Versioned');
    const admin = await app.fixtures.user(orgId, { role: Role.ADMIN });
    adminToken = (await app.fixtures.token(admin.id)).token;
    const adminKey = (await app.fixtures.token(admin.id, CredentialKind.API_KEY)).token;
    const adminJwt = (await app.fixtures.token(admin.id, CredentialKind.JWT)).token;
    const users: User[] = [];
    for (let i = 0; i < 5; i++) users.push(await app.fixtures.user(orgId));
    const ownPat = (await app.fixtures.token(users[0].id)).token;
    const ownKey = (await app.fixtures.token(users[1].id, CredentialKind.API_KEY)).token;
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

  const call = (e: Endpoint & { user: User }, method: string, extra: Record<string, string>, n = 0) =>
    send(app.url, method, e.path(e.user), {
      headers: { ...e.headers, ...extra },
      json: method === 'GET' ? undefined : e.body(n),
    });
  let counter = 0;
  const next = () => ++counter;

  it('every REST user response, GET and write on each of the five endpoints, carries ETag "<version>"', async () => {
    for (const e of endpoints) {
      const before = await app.stored(e.user.id);
      const read = await call(e, 'GET', {});
      expect({ endpoint: e.id, status: read.status, etag: read.headers.get('etag') }).toEqual({
        endpoint: e.id,
        status: 200,
        etag: `"${before.version}"`,
      });
      const written = await call(e, e.method, {}, next());
      const after = await app.stored(e.user.id);
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
      const before = await app.stored(e.user.id);
      const current = `"${before.version}"`;
      // RFC 9110 §13.1.1: If-Match compares strongly, so a weak tag never matches, not even the current one.
      const refused = [
        `"${before.version - 1}"`,
        `"${before.version + 1}"`,
        `W/${current}`,
        `W/"0", W/${current}`,
        `"0${before.version}"`,
        'garbage',
        `${current}, garbage`,
      ];
      for (const ifMatch of refused) {
        const res = await call(e, e.method, { 'if-match': ifMatch }, next());
        expect({ endpoint: e.id, ifMatch, status: res.status, body: res.body }).toEqual({
          endpoint: e.id,
          ifMatch,
          status: 412,
          body: e.preconditionFailed,
        });
        expect(await app.stored(e.user.id)).toEqual(before);
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
      // A list matches when one of its strong tags is the current ETag, in any position.
      const listed = await call(e, e.method, { 'if-match': `"0", W/"9", "${version + 1}"` }, next());
      expect({ endpoint: e.id, status: listed.status, etag: listed.headers.get('etag') }).toEqual({
        endpoint: e.id,
        status: 200,
        etag: `"${version + 2}"`,
      });
      // `*` matches any existing user.
      const any = await call(e, e.method, { 'if-match': '*' }, next());
      expect(any.headers.get('etag')).toBe(`"${version + 3}"`);
      expect((await app.stored(e.user.id)).version).toBe(version + 3);
      // The ETag it had before is now stale, alone or in a list of stale ones.
      expect((await call(e, e.method, { 'if-match': etag }, next())).status).toBe(412);
      expect((await call(e, e.method, { 'if-match': `${etag}, "${version + 1}"` }, next())).status).toBe(412);
      expect((await app.stored(e.user.id)).version).toBe(version + 3);
    }
  });

  it('If-Match on a user that does not exist answers 404, not 412', async () => {
    const e = endpoints[4];
    const missing = { ...e, user: { ...e.user, id: 'usr_doesnotexist0000000000' } as User };
    for (const ifMatch of ['*', '"1"', 'W/"1"', '"1", "2"']) {
      const res = await call(missing, e.method, { 'if-match': ifMatch }, next());
      expect({ ifMatch, status: res.status }).toEqual({ ifMatch, status: 404 });
    }
  });

  it('of two writers holding the same ETag, exactly one wins and the other gets 412', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const results = await Promise.all(
        [next(), next()].map((n) => call(e, e.method, { 'if-match': etag }, n)),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      expect((await app.stored(e.user.id)).version).toBe(Number(JSON.parse(etag)) + 1);
    }
  });

  const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $v: Int) {
    updateUser(id: $id, input: $input, expectedVersion: $v) { id jobTitle version } }`;
  const UPDATE_ME = `mutation ($input: UpdateMeInput!, $v: Int) {
    updateMe(input: $input, expectedVersion: $v) { id jobTitle version } }`;

  it('GraphQL updateUser with a stale expectedVersion answers CONFLICT with the current version', async () => {
    const target = endpoints[2].user;
    const before = await app.stored(target.id);
    const stale = await gql(
      app.url,
      UPDATE_USER,
      { id: target.id, input: { jobTitle: 'stale' }, v: before.version - 1 },
      bearer(adminToken),
    );
    expect(stale.body.data).toBeNull();
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      currentVersion: before.version,
    });
    expect(await app.stored(target.id)).toEqual(before);

    const fresh = await gql(
      app.url,
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
    const before = await app.stored(target.id);
    const stale = await gql(
      app.url,
      UPDATE_ME,
      { input: { jobTitle: 'stale' }, v: before.version + 5 },
      bearer(token),
    );
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'version',
      currentVersion: before.version,
    });
    expect(await app.stored(target.id)).toEqual(before);
    const fresh = await gql(
      app.url,
      UPDATE_ME,
      { input: { jobTitle: 'fresh' }, v: before.version },
      bearer(token),
    );
    expect(fresh.body.data.updateMe).toMatchObject({ jobTitle: 'fresh', version: before.version + 1 });
  });
});

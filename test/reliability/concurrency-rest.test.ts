import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { bearer, jwtHeader, send, type RestResponse } from '../rest/rest-support';
import {
  CREDENTIAL_KINDS,
  type Credentials,
  credentialsFor,
  DOCUMENTED_ENDPOINTS,
} from '../support/endpoints';
import { gql, useApp, useOrgAdmin } from '../support/harness';

/** Many writers at once through the REST shim: nothing lost, nothing doubled, no server errors. */
describe('concurrent writers through the REST endpoints', () => {
  let admin: Credentials;

  const app = useApp();
  const org = useOrgAdmin(app, 'Crowded');

  beforeAll(async () => {
    admin = await credentialsFor(app.fixtures, org.admin);
  });

  /** The i-th writer on `user`, cycling through the five endpoints; `value` is what it sets. */
  const writer = (i: number, user: User, own: Partial<Credentials>) => {
    const endpoint = DOCUMENTED_ENDPOINTS[i % 5];
    // Only the self-service endpoints (000, 001) write with the user's own credential.
    const token = (endpoint.self ? own : admin)[endpoint.credential]!;
    const value = `w${i}-${user.numericId}`;
    return {
      value: { [endpoint.column]: value },
      send: () =>
        send(app.url, endpoint.method, endpoint.path(user), {
          headers: endpoint.header(token),
          json: { [endpoint.textField]: value },
        }),
    };
  };

  /** A write through 004 with the admin's PAT. */
  const write004 = (user: User, json: unknown) =>
    send(app.url, 'PATCH', `/api/v1/users/${user.id}`, { headers: bearer(admin.pat), json });

  const ownCredentials = async (user: User) => ({
    pat: (await app.fixtures.token(user.id)).token,
    apiKey: (await app.fixtures.token(user.id, CredentialKind.API_KEY)).token,
  });

  const expectAllOk = (responses: RestResponse[]) =>
    expect(
      responses.map((res, i) => ({ i, status: res.status, body: res.status === 200 ? 'ok' : res.body })),
    ).toEqual(responses.map((_, i) => ({ i, status: 200, body: 'ok' })));

  it('200 concurrent writers on 200 different users, across the five endpoints: all succeed, all stored', async () => {
    // Only the self-service endpoints need the user's own credential: a PAT for 000, an API key for 001.
    const users = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const user = await app.fixtures.user(org.orgId);
        const { self, credential } = DOCUMENTED_ENDPOINTS[i % 5];
        const own = self
          ? { [credential]: (await app.fixtures.token(user.id, CREDENTIAL_KINDS[credential])).token }
          : {};
        return { user, own };
      }),
    );
    const writers = users.map(({ user, own }, i) => writer(i, user, own));
    const responses = await Promise.all(writers.map((w) => w.send()));
    expectAllOk(responses);
    responses.forEach((res) => expect(res.headers.get('etag')).toBe('"2"'));
    const stored = await Promise.all(users.map(({ user }) => app.stored(user.id)));
    stored.forEach((row, i) => expect(row).toMatchObject({ ...writers[i].value, version: 2 }));
  });

  it('200 concurrent writers on one user, across the five endpoints: every change gets its own version', async () => {
    const user = await app.fixtures.user(org.orgId);
    const own = await ownCredentials(user);
    const before = await app.stored(user.id);
    const writers = Array.from({ length: 200 }, (_, i) => writer(i, user, own));
    const responses = await Promise.all(writers.map((w) => w.send()));
    expectAllOk(responses);
    const versions = responses.map((res) => Number(JSON.parse(res.headers.get('etag')!)));
    expect(new Set(versions).size).toBe(200);
    expect(Math.min(...versions)).toBe(before.version + 1);
    expect(Math.max(...versions)).toBe(before.version + 200);
    const after = await app.stored(user.id);
    expect(after.version).toBe(before.version + 200);
    // For each field, the stored value is the one written by the last acknowledged writer of that field.
    for (const field of ['name', 'firstName', 'jobTitle'] as const) {
      const last = writers
        .map((w, i) => ({
          value: (w.value as Partial<Record<typeof field, string>>)[field],
          version: versions[i],
        }))
        .filter((w) => w.value !== undefined)
        .sort((a, b) => b.version - a.version)[0];
      expect(after[field]).toBe(last.value);
    }
    // The history has one entry per acknowledged change, readable page by page over GraphQL.
    const seen = new Set<string>();
    let after_: string | null = null;
    do {
      const page: any = await gql(
        app.url,
        `query ($id: ID!, $after: String) { userChanges(userId: $id, first: 100, after: $after) {
          nodes { id requestId changedFields } pageInfo { hasNextPage endCursor } } }`,
        { id: user.id, after: after_ },
        bearer(admin.pat),
      );
      expect(page.body.errors).toBeUndefined();
      for (const node of page.body.data.userChanges.nodes) seen.add(node.id);
      after_ = page.body.data.userChanges.pageInfo.hasNextPage
        ? page.body.data.userChanges.pageInfo.endCursor
        : null;
    } while (after_);
    expect(seen.size).toBe(200);
  });

  it('the change history and the user list page the same on both databases, and refuse forged cursors', async () => {
    const user = await app.fixtures.user(org.orgId);
    const empty = await gql(
      app.url,
      `query ($id: ID!) { userChanges(userId: $id) { nodes { id } pageInfo { hasNextPage endCursor } } }`,
      { id: user.id },
      bearer(admin.pat),
    );
    expect(empty.body).toEqual({
      data: { userChanges: { nodes: [], pageInfo: { hasNextPage: false, endCursor: null } } },
    });
    // Cursors past the 32-bit ids PostgreSQL stores are not ones this API issued: 400, never 500.
    const forged: Array<[string, Record<string, unknown>]> = [
      [
        'query ($id: ID!, $after: String) { userChanges(userId: $id, after: $after) { nodes { id } } }',
        { id: user.id, after: Buffer.from('change:99999999999').toString('base64url') },
      ],
      [
        'query ($after: String) { users(after: $after) { nodes { id } } }',
        { after: Buffer.from('user:99999999999').toString('base64url') },
      ],
    ];
    for (const [query, variables] of forged) {
      const res = await gql(app.url, query, variables, bearer(admin.pat));
      expect(res.body.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fields: [{ field: 'after', message: expect.any(String) }],
      });
    }
  });

  it('writers changing different fields of one user at the same time all land', async () => {
    for (let round = 0; round < 10; round++) {
      const user = await app.fixtures.user(org.orgId);
      const own = await ownCredentials(user);
      const responses = await Promise.all([
        send(app.url, 'PATCH', `/v1/users/${user.id}`, {
          headers: bearer(admin.apiKey),
          json: { first_name: `First ${round}`, last_name: `Last ${round}` },
        }),
        send(app.url, 'POST', `/api/users/${user.numericId}`, {
          headers: jwtHeader(admin.jwt),
          json: { jobTitle: `Job ${round}`, timezone: 'Europe/Paris' },
        }),
        write004(user, { metadata: { round } }),
        send(app.url, 'PUT', '/user', { headers: bearer(own.pat), json: { name: `Name ${round}` } }),
      ]);
      expectAllOk(responses);
      expect(await app.stored(user.id)).toMatchObject({
        firstName: `First ${round}`,
        lastName: `Last ${round}`,
        jobTitle: `Job ${round}`,
        timezone: 'Europe/Paris',
        metadata: { round },
        name: `Name ${round}`,
        version: 5,
      });
    }
  });

  it('concurrent metadata additions through 004 all land or are refused, never lost, never over 16 keys', async () => {
    const user = await app.fixtures.user(org.orgId);
    await write004(user, { metadata: { existing: true } });
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => write004(user, { metadata: { [`key${i}`]: i } })),
    );
    const accepted: string[] = [];
    responses.forEach((res, i) => {
      if (res.status === 200) {
        accepted.push(`key${i}`);
        // Each acknowledged answer already contains every key added before it.
        expect(res.body.metadata[`key${i}`]).toBe(i);
      } else {
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ errors: [{ field: 'metadata', message: expect.stringContaining('16') }] });
      }
    });
    // Additions are serialised, so exactly the first 15 fit beside the existing key.
    expect(accepted).toHaveLength(15);
    const stored = (await app.stored(user.id)).metadata;
    expect(Object.keys(stored).sort()).toEqual(['existing', ...accepted].sort());
  });

  it('concurrent metadata additions and removals never lose an acknowledged key', async () => {
    const user = await app.fixtures.user(org.orgId);
    const initial = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`old${i}`, i]));
    await write004(user, { metadata: initial });
    const responses = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => write004(user, { metadata: { [`old${i}`]: null } })),
      ...Array.from({ length: 12 }, (_, i) => write004(user, { metadata: { [`new${i}`]: `v${i}` } })),
    ]);
    const added = responses
      .slice(8)
      .map((res, i) => (res.status === 200 ? `new${i}` : null))
      .filter((key): key is string => key !== null);
    responses.forEach((res) => expect([200, 400]).toContain(res.status));
    responses.slice(0, 8).forEach((res) => expect(res.status).toBe(200));
    // However they interleave, 8 old keys and 8 new ones fit: at least 8 additions are accepted, and
    // each refused one is refused for the limit.
    expect(added.length).toBeGreaterThanOrEqual(8);
    for (const res of responses.slice(8).filter((r) => r.status === 400)) {
      expect(res.body.errors).toEqual([{ field: 'metadata', message: expect.stringMatching(/16 keys/) }]);
    }
    const stored = (await app.stored(user.id)).metadata;
    expect(Object.keys(stored).sort()).toEqual(added.sort());
    expect(Object.keys(stored).length).toBeLessThanOrEqual(16);
  });

  it('20 concurrent attempts to take one email in one organization through 002: one succeeds, 19 get 409', async () => {
    const contenders: User[] = [];
    for (let i = 0; i < 20; i++) contenders.push(await app.fixtures.user(org.orgId));
    const responses = await Promise.all(
      contenders.map((user, i) =>
        send(app.url, 'PATCH', `/v1/users/${user.id}`, {
          headers: bearer(admin.apiKey),
          json: { email: i % 2 ? 'Contested@Example.com' : 'contested@example.COM' },
        }),
      ),
    );
    const statuses = responses.map((res) => res.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const res of responses.filter((r) => r.status === 409)) {
      expect(res.body).toEqual({ error: 'conflict', message: 'Email already taken' });
    }
    const stored = await Promise.all(contenders.map((user) => app.stored(user.id)));
    const winners = stored.filter((row) => row.emailLower === 'contested@example.com');
    expect(winners).toHaveLength(1);
    expect(winners[0].id).toBe(contenders[statuses.indexOf(200)].id);
    // The losers are exactly as they were.
    stored.forEach((row, i) => {
      if (row.id !== winners[0].id)
        expect(row).toEqual(expect.objectContaining({ email: contenders[i].email, version: 1 }));
    });
  });
});

import type { RequestContext } from '../../src/auth/principal';
import type { HotConnections } from '../../src/db/connections';
import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { PrefetchedUsers } from '../../src/services/prefetched-users';
import { Fixtures, type TestServer, bearer, gql, startServer } from '../support/harness';

const UPDATE_USER =
  'mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id name version } }';

/**
 * A request that names a user (a GraphQL variable, a REST path parameter) has that user read together
 * with its credential, in one handoff to the database; the service uses the read only once the caller
 * is known and only when no other writer of that user went first in this process.
 */
describe('users read with the credential', () => {
  let server: TestServer;
  let fixtures: Fixtures;
  let orgId: string;
  let admin: User;
  let adminToken: string;
  let adminKey: string;
  /** The keyed reads sent to the database, one group per handoff (each end of a loop turn). */
  let handoffs: Array<Array<{ sql: string; params: unknown[] }>>;

  const contextOf = async (user: User): Promise<RequestContext> => ({
    requestId: 'prefetch',
    principal: {
      user,
      credentialId: (await fixtures.token(user.id)).id,
      credentialKind: CredentialKind.PERSONAL_ACCESS_TOKEN,
      scopes: new Set(['users:write', 'write']),
    },
  });
  /** The handoffs that read `userId` by its id. */
  const readsOf = (userId: string) =>
    handoffs.filter((group) => group.some((read) => JSON.stringify(read.params).includes(userId)));

  beforeAll(async () => {
    server = await startServer();
    fixtures = new Fixtures(server.services);
    orgId = await fixtures.org('Prefetch');
    admin = await fixtures.user(orgId, { role: Role.ADMIN });
    adminToken = (await fixtures.token(admin.id)).token;
    adminKey = (await fixtures.token(admin.id, CredentialKind.API_KEY, { scopes: ['write'] })).token;
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await server.close();
  });
  beforeEach(() => {
    // The store opens the hot-path connections on first use.
    expect(server.services.db.users).toBeDefined();
    const connections = (server.services.db as unknown as { hot: HotConnections }).hot;
    const keyed = (connections as unknown as { keyed: { drain(): void } }).keyed;
    handoffs = [];
    const drain = keyed.drain.bind(keyed);
    jest.spyOn(keyed, 'drain').mockImplementation(() => {
      handoffs.push([]);
      drain();
    });
    const read = connections.read.bind(connections);
    jest.spyOn(connections, 'read').mockImplementation((sql, params) => {
      (handoffs[handoffs.length - 1] ?? (handoffs[0] = [])).push({ sql, params });
      return read(sql, params);
    });
  });
  afterEach(() => jest.restoreAllMocks());

  it("GraphQL updateUser: the target is read in the credential's handoff, and not again", async () => {
    const member = await fixtures.user(orgId, { name: 'Before' });
    const res = await gql(
      server.url,
      UPDATE_USER,
      { id: member.id, input: { name: 'After' } },
      bearer(adminToken),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.updateUser).toMatchObject({ id: member.id, name: 'After', version: 2 });
    const reads = readsOf(member.id);
    expect(reads).toHaveLength(1);
    // The same handoff carried the credential's read (its statement is the other one in the group).
    expect(reads[0].length).toBeGreaterThanOrEqual(2);
    expect((await fixtures.stored(member.id)).name).toBe('After');
  });

  it('REST 002 PATCH /v1/users/{user_id}: the path parameter is read with the API key', async () => {
    const member = await fixtures.user(orgId, { name: 'Before' });
    const res = await fetch(`${server.url}/v1/users/${member.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...bearer(adminKey) },
      body: JSON.stringify({ first_name: 'Rested' }),
    });
    expect(res.status).toBe(200);
    expect(readsOf(member.id)).toHaveLength(1);
    expect(readsOf(member.id)[0].length).toBeGreaterThanOrEqual(2);
    expect((await fixtures.stored(member.id)).firstName).toBe('Rested');
  });

  it('without a credential, or with one that fails, nothing the request names is used or returned', async () => {
    const member = await fixtures.user(orgId, { name: 'Untouched' });
    const anonymous = await gql(server.url, UPDATE_USER, { id: member.id, input: { name: 'X' } });
    expect(anonymous.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    // No credential: not even read.
    expect(readsOf(member.id)).toHaveLength(0);
    const wrong = await gql(
      server.url,
      UPDATE_USER,
      { id: member.id, input: { name: 'X' } },
      bearer('pat_wrong'),
    );
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain('Untouched');
    expect(await fixtures.stored(member.id)).toMatchObject({ name: 'Untouched', version: 1 });
  });

  it('a user of another organization, read early, is still not found and not changed', async () => {
    const otherOrg = await fixtures.org('Prefetch elsewhere');
    const stranger = await fixtures.user(otherOrg, { name: 'Stranger' });
    const res = await gql(
      server.url,
      UPDATE_USER,
      { id: stranger.id, input: { name: 'Taken' } },
      bearer(adminToken),
    );
    expect(res.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect(JSON.stringify(res.body)).not.toContain('Stranger');
    expect(await fixtures.stored(stranger.id)).toMatchObject({ name: 'Stranger', version: 1 });
  });

  it('at most two reads per request, only of values shaped like user ids', () => {
    const users = server.services.db.users;
    const started: string[] = [];
    jest.spyOn(users, 'userById').mockImplementation(async (id) => {
      started.push(id);
      return null;
    });
    const prefetched = new PrefetchedUsers(users);
    for (const value of ['usr_a', 'usr_a', 42, null, { id: 'usr_x' }, 'org_b', 'usr_ b', 'usr_c', 'usr_d']) {
      prefetched.start(value);
    }
    expect(started).toEqual(['usr_a', 'usr_c']);
    expect(prefetched.take('usr_a')).toBeDefined();
    // Taken once: a second use reads again.
    expect(prefetched.take('usr_a')).toBeUndefined();
    expect(prefetched.take('usr_d')).toBeUndefined();
  });

  it('a writer that waits for its turn reads the user again instead of using the early read', async () => {
    const member = await fixtures.user(orgId, { name: 'Start' });
    const users = server.services.db.users;
    const ctxs = [await contextOf(admin), await contextOf(admin)];
    // Both requests read the member at version 1 with their credentials.
    for (const ctx of ctxs) {
      ctx.prefetchedUsers = new PrefetchedUsers(users);
      ctx.prefetchedUsers.start(member.id);
    }
    const lost = jest.spyOn(users, 'withUserLocked');
    const outcomes = await Promise.all([
      server.services.users.update(ctxs[0], member.id, { name: 'First' }),
      server.services.users.update(ctxs[1], member.id, { name: 'Second' }),
    ]);
    // The second waited for the first, then started from the row the first wrote: no race was lost.
    expect(lost).not.toHaveBeenCalled();
    expect(outcomes.map((o) => o.user.version)).toEqual([2, 3]);
    expect(await fixtures.stored(member.id)).toMatchObject({ name: 'Second', version: 3 });
  });
});

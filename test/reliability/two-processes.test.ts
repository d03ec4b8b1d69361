import { operatorContext } from '../../src/auth/principal';
import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { apiKeyHeader, bearer, jwtHeader, send } from '../rest/rest-support';
import { usingPostgres } from '../support/database';
import { gql } from '../support/harness';
import {
  type DirectDatabase,
  type SpawnedServer,
  seedOrganization,
  spawnServer,
  useDatabase,
} from '../support/processes';

if (!usingPostgres) {
  console.log(
    '[two-processes] skipped: several server processes share one database only on PostgreSQL; ' +
      'set TEST_DATABASE_URL to run it.',
  );
}

(usingPostgres ? describe : describe.skip)('two server processes on one PostgreSQL database', () => {
  const spawned = useDatabase();
  let direct: DirectDatabase;
  let servers: SpawnedServer[];
  let world: Awaited<ReturnType<typeof seedOrganization>>;

  beforeAll(async () => {
    direct = await spawned.open();
    world = await seedOrganization(direct.fixtures, 0);
    servers = await Promise.all([spawnServer(spawned.database), spawnServer(spawned.database)]);
  }, 120_000);

  /** The i-th request goes to the first or the second process in turn. */
  const urlOf = (i: number) => servers[i % 2].url;
  const stored = (id: string) => direct.fixtures.stored(id);
  /** A write through 004 with the admin's PAT, to the i-th process. */
  const write004 = (i: number, user: User, json: unknown, headers: Record<string, string> = {}) =>
    send(urlOf(i), 'PATCH', `/api/v1/users/${user.id}`, {
      headers: { ...bearer(world.adminPat), ...headers },
      json,
    });
  const newUser = async () => {
    const user = await direct.fixtures.user(world.orgId);
    return { user, pat: (await direct.fixtures.token(user.id)).token };
  };

  it('writers changing different fields of one user through both processes all land', async () => {
    for (let round = 0; round < 6; round++) {
      const { user, pat } = await newUser();
      const responses = await Promise.all([
        send(urlOf(round), 'PATCH', `/v1/users/${user.id}`, {
          headers: bearer(world.adminKey),
          json: { first_name: `First ${round}` },
        }),
        send(urlOf(round + 1), 'POST', `/api/users/${user.numericId}`, {
          headers: jwtHeader(world.adminJwt),
          json: { jobTitle: `Job ${round}` },
        }),
        write004(round, user, { metadata: { round } }),
        send(urlOf(round + 1), 'PUT', '/v2/user', { headers: bearer(pat), json: { name: `Name ${round}` } }),
      ]);
      expect(responses.map((res) => res.status)).toEqual([200, 200, 200, 200]);
      expect(await stored(user.id)).toMatchObject({
        firstName: `First ${round}`,
        jobTitle: `Job ${round}`,
        metadata: { round },
        name: `Name ${round}`,
        version: 5,
      });
    }
  });

  it('100 concurrent writers on one user through both processes: each change gets its own version', async () => {
    const { user } = await newUser();
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => write004(i, user, { name: `Writer ${i}` })),
    );
    expect(responses.filter((res) => res.status !== 200)).toEqual([]);
    const versions = responses.map((res) => Number(JSON.parse(res.headers.get('etag')!)));
    expect(new Set(versions).size).toBe(100);
    const row = await stored(user.id);
    expect(row.version).toBe(101);
    expect(row.name).toBe(`Writer ${versions.indexOf(101)}`);
  });

  it('20 concurrent admin changes giving one email to users through both processes: exactly one succeeds, the rest 409', async () => {
    const contenders: Array<{ user: User; pat: string }> = [];
    for (let i = 0; i < 20; i++) contenders.push(await newUser());
    const responses = await Promise.all(
      contenders.map(({ user }, i) =>
        i % 4 < 2
          ? send(urlOf(i), 'PATCH', `/v1/users/${user.id}`, {
              headers: bearer(world.adminKey),
              json: { email: 'Shared@Example.com' },
            })
          : gql(
              urlOf(i),
              'mutation ($id: ID!) { updateUser(id: $id, input: { email: "shared@EXAMPLE.com" }) { id } }',
              { id: user.id },
              bearer(world.adminKey),
            ).then((res) => ({
              status: res.body.errors
                ? res.body.errors[0].extensions?.code === 'CONFLICT'
                  ? 409
                  : 500
                : 200,
            })),
      ),
    );
    const statuses = responses.map((res) => res.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const rows = await Promise.all(contenders.map(({ user }) => stored(user.id)));
    expect(rows.filter((row) => row.emailLower === 'shared@example.com')).toHaveLength(1);
  });

  it('concurrent metadata additions through both processes all land or are refused, never over 16 keys', async () => {
    const { user } = await newUser();
    const responses = await Promise.all(
      Array.from({ length: 24 }, (_, i) => write004(i, user, { metadata: { [`k${i}`]: i } })),
    );
    const accepted = responses.flatMap((res, i) => (res.status === 200 ? [`k${i}`] : []));
    responses.forEach((res) => expect([200, 400]).toContain(res.status));
    expect(accepted).toHaveLength(16);
    expect(Object.keys((await stored(user.id)).metadata).sort()).toEqual(accepted.sort());
  });

  it('one Idempotency-Key sent to both processes at once writes once', async () => {
    const { user } = await newUser();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        write004(i, user, { name: 'Once' }, { 'idempotency-key': 'across-processes' }),
      ),
    );
    const originals = responses.filter(
      (res) => res.status === 200 && res.headers.get('idempotent-replayed') === null,
    );
    expect(originals).toHaveLength(1);
    responses.forEach((res) => expect([200, 409]).toContain(res.status));
    expect((await stored(user.id)).version).toBe(2);
  });

  it('a credential revoked while both processes run is refused by both on the next request', async () => {
    const { user } = await newUser();
    const issued = await direct.fixtures.token(user.id, CredentialKind.API_KEY);
    for (const server of servers) {
      const res = await send(server.url, 'GET', '/v1/users/me', { headers: apiKeyHeader(issued.token) });
      expect(res.status).toBe(200);
    }
    await direct.services.credentials.revoke(operatorContext(), issued.id);
    for (const server of servers) {
      const read = await send(server.url, 'GET', '/v1/users/me', { headers: apiKeyHeader(issued.token) });
      expect(read.status).toBe(401);
      const write = await send(server.url, 'PATCH', '/v1/users/me', {
        headers: apiKeyHeader(issued.token),
        json: { name: 'Revoked' },
      });
      expect(write.status).toBe(401);
    }
    expect((await stored(user.id)).version).toBe(1);
  });
});

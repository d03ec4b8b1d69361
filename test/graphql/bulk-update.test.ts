import { Role } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import type { User } from '../../src/entities/user.entity';
import { usingPostgres } from '../support/database';
import { bearer, gql, useApp } from '../support/harness';

const UPDATE_USERS = `mutation ($items: [UpdateUsersItem!]!, $atomic: Boolean) {
  updateUsers(items: $items, atomic: $atomic) {
    user { id name jobTitle version } changedFields error { code message fields { field message } currentVersion } } }`;

/** updateUsers: one result per item, in order; each item lands or is refused on its own, or (atomic) all or none. */
describe('updateUsers', () => {
  const app = useApp({ world: true });
  const history = (userId: string) =>
    app.server.services.db.read((m) => m.getRepository(UserChange).countBy({ userId }));
  const send = (items: object[], atomic?: boolean, token = app.world.adminToken) =>
    gql(app.url, UPDATE_USERS, { items, atomic }, bearer(token));
  const members = (count: number) =>
    Promise.all(Array.from({ length: count }, () => app.fixtures.user(app.world.orgId)));

  it('100 items, some refused: the others land, each with its history row, answers in order', async () => {
    const users = await members(90);
    const items: object[] = users.map((user, n) => ({ id: user.id, input: { jobTitle: `Job ${n}` } }));
    // Three more for the first user, in order, and refusals of every kind among them.
    items.push({ id: users[0].id, input: { name: 'First again' } });
    items.push({ id: users[0].id, input: { name: 'First third' }, expectedVersion: 3 });
    items.push({ id: users[0].id, input: { name: 'Stale' }, expectedVersion: 1 });
    items.push({ id: users[1].id, input: { timezone: 'Mars/Olympus' } });
    items.push({ id: 'usr_missing', input: { name: 'Nobody' } });
    items.push({ id: app.world.outsider.id, input: { name: 'Elsewhere' } });
    items.push({ id: users[2].id, input: { email: app.world.member.email.toUpperCase() } });
    items.push({ id: users[3].id, input: { metadata: { a: { nested: true } } } });
    items.push({ id: users[4].id, input: { jobTitle: 'Job 4' } });
    items.push({ id: users[5].id, input: { name: null } });
    expect(items).toHaveLength(100);
    const answer = await send(items);
    expect(answer.body.errors).toBeUndefined();
    const results = answer.body.data.updateUsers;
    expect(results).toHaveLength(100);
    for (let n = 0; n < 90; n++) {
      expect(results[n]).toEqual({
        user: expect.objectContaining({ id: users[n].id, jobTitle: `Job ${n}`, version: 2 }),
        changedFields: ['jobTitle'],
        error: null,
      });
    }
    expect(results[90].user).toMatchObject({ name: 'First again', version: 3 });
    expect(results[91].user).toMatchObject({ name: 'First third', version: 4 });
    expect(results.slice(92).map((result: any) => result.error?.code ?? 'none')).toEqual([
      'CONFLICT',
      'BAD_USER_INPUT',
      'NOT_FOUND',
      'NOT_FOUND',
      'CONFLICT',
      'BAD_USER_INPUT',
      'none',
      'BAD_USER_INPUT',
    ]);
    // A stale expectedVersion says what the version is now, as updateUser's CONFLICT does.
    expect(results[92].error).toMatchObject({ fields: [{ field: 'version' }], currentVersion: 4 });
    expect(results[96].error.currentVersion).toBeNull();
    expect(results[93].error.fields).toEqual([{ field: 'timezone', message: expect.any(String) }]);
    expect(results[96].error.fields).toEqual([{ field: 'email', message: 'Email already taken' }]);
    expect(results[98]).toMatchObject({ changedFields: [], error: null, user: { version: 2 } });
    expect(await app.stored(users[0].id)).toMatchObject({
      name: 'First third',
      jobTitle: 'Job 0',
      version: 4,
    });
    expect(await history(users[0].id)).toBe(3);
    for (const user of users.slice(1, 6)) expect(await history(user.id)).toBe(1);
    expect((await app.stored(app.world.outsider.id)).name).toBe(app.world.outsider.name);
  });

  it('atomic: one refused item and nothing is applied; the others say NOT_APPLIED', async () => {
    const users = await members(4);
    const items = [
      ...users.map((user) => ({ id: user.id, input: { name: 'All or nothing' } })),
      { id: users[1].id, input: { name: 'Too late' }, expectedVersion: 1 },
    ];
    const answer = await send(items, true);
    const results = answer.body.data.updateUsers;
    expect(results.map((result: any) => result.error?.code)).toEqual([
      'NOT_APPLIED',
      'NOT_APPLIED',
      'NOT_APPLIED',
      'NOT_APPLIED',
      'CONFLICT',
    ]);
    expect(results.every((result: any) => result.user === null)).toBe(true);
    for (const user of users) {
      expect(await app.stored(user.id)).toMatchObject({ name: user.name, version: 1 });
      expect(await history(user.id)).toBe(0);
    }
  });

  it('atomic: a refusal only the database sees (a taken email) undoes every item', async () => {
    const users = await members(3);
    const holder: User = await app.fixtures.user(app.world.orgId);
    const answer = await send(
      [
        { id: users[0].id, input: { jobTitle: 'Kept?' } },
        { id: users[1].id, input: { email: holder.email.toUpperCase() } },
        { id: users[2].id, input: { jobTitle: 'Kept?' } },
      ],
      true,
    );
    const results = answer.body.data.updateUsers;
    expect(results.map((result: any) => result.error?.code)).toEqual([
      'NOT_APPLIED',
      'CONFLICT',
      'NOT_APPLIED',
    ]);
    expect(results[1].error.fields).toEqual([{ field: 'email', message: 'Email already taken' }]);
    for (const user of users) expect(await app.stored(user.id)).toMatchObject({ version: 1, jobTitle: null });
  });

  it('an item may take the username an item before it gives up, whichever user was created first', async () => {
    // Pairs of users, the one taking the name created first; each giver has a username to give up.
    const pairs = await Promise.all(Array.from({ length: 4 }, () => members(2)));
    const nameOf = (giver: User) => `swap-${giver.id.slice(-10)}`.toLowerCase();
    const given = await send(
      pairs.map(([, giver]) => ({ id: giver.id, input: { username: nameOf(giver) } })),
    );
    expect(given.body.data.updateUsers.map((result: any) => result.error)).toEqual(pairs.map(() => null));
    const results = (
      await send(
        pairs.flatMap(([taker, giver]) => [
          { id: giver.id, input: { username: `${nameOf(giver)}-given-up` } },
          { id: taker.id, input: { username: nameOf(giver) } },
        ]),
      )
    ).body.data.updateUsers;
    expect(results.map((result: any) => [result.changedFields, result.error])).toEqual(
      results.map(() => [['username'], null]),
    );
    for (const [taker, giver] of pairs) {
      expect((await app.stored(taker.id)).username).toBe(nameOf(giver));
      expect((await app.stored(giver.id)).username).toBe(`${nameOf(giver)}-given-up`);
    }
  });

  it('atomic: when every item holds, all land, several of one user in order, each with its history', async () => {
    const users = await members(3);
    const items = [
      { id: users[0].id, input: { name: 'One' } },
      { id: users[1].id, input: { name: 'Two' } },
      { id: users[0].id, input: { jobTitle: 'Also one' }, expectedVersion: 2 },
      { id: users[2].id, input: { name: users[2].name } },
    ];
    const results = (await send(items, true)).body.data.updateUsers;
    expect(results.map((result: any) => [result.user?.version, result.changedFields, result.error])).toEqual([
      [2, ['name'], null],
      [2, ['name'], null],
      [3, ['jobTitle'], null],
      [1, [], null],
    ]);
    expect(await app.stored(users[0].id)).toMatchObject({ name: 'One', jobTitle: 'Also one', version: 3 });
    expect(await history(users[0].id)).toBe(2);
    expect(await history(users[2].id)).toBe(0);
  });

  it('atomic: each item is judged on what the items before it did (the last admin, the caller’s own rights)', async () => {
    const { orgId, admin, adminToken } = await app.fixtures.orgAdmin('Judged in order');
    const second = await app.fixtures.user(orgId, { role: Role.ADMIN });
    const member = await app.fixtures.user(orgId);
    const codes = async (items: object[]) => {
      const answer = await gql(app.url, UPDATE_USERS, { items, atomic: true }, bearer(adminToken));
      expect(answer.body.errors).toBeUndefined();
      return answer.body.data.updateUsers.map((item: any) => item.error?.code ?? 'OK');
    };
    // Demoting both admins: the second demotion is of the last one.
    expect(
      await codes([
        { id: second.id, input: { role: 'MEMBER' } },
        { id: admin.id, input: { role: 'MEMBER' } },
      ]),
    ).toEqual(['NOT_APPLIED', 'CONFLICT']);
    // The caller demotes themselves, then may no longer update another user.
    expect(
      await codes([
        { id: admin.id, input: { role: 'MEMBER' } },
        { id: member.id, input: { jobTitle: 'After' } },
      ]),
    ).toEqual(['NOT_APPLIED', 'FORBIDDEN']);
    // A promotion first leaves another admin: then both admins before may step down.
    expect(
      await codes([
        { id: member.id, input: { role: 'ADMIN' } },
        { id: second.id, input: { role: 'MEMBER' } },
      ]),
    ).toEqual(['OK', 'OK']);
    for (const [user, role] of [
      [admin, 'admin'],
      [second, 'member'],
      [member, 'admin'],
    ] as const)
      expect((await app.stored(user.id)).role).toBe(role);
  });

  it('a member may update only themselves: other items are FORBIDDEN, their own lands', async () => {
    const [ownBefore, viewerBefore] = await Promise.all(
      [app.world.member.id, app.world.viewer.id].map((id) => app.stored(id)),
    );
    const results = (
      await send(
        [
          { id: app.world.member.id, input: { jobTitle: 'Mine' } },
          { id: app.world.viewer.id, input: { jobTitle: 'Not mine' } },
        ],
        false,
        app.world.memberToken,
      )
    ).body.data.updateUsers;
    expect(results.map((result: any) => result.error?.code ?? 'none')).toEqual(['none', 'FORBIDDEN']);
    const own = await app.stored(app.world.member.id);
    expect({ jobTitle: own.jobTitle, version: own.version }).toEqual({
      jobTitle: 'Mine',
      version: ownBefore.version + 1,
    });
    expect(await app.stored(app.world.viewer.id)).toEqual(viewerBefore);
  });

  it('a failure of the server on one item is that item’s INTERNAL_SERVER_ERROR; the others land', async () => {
    const [before, failing, after] = await members(3);
    // The database refuses writes of one user, as a failing disk or a broken constraint would.
    const trigger = usingPostgres
      ? [
          `CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql`,
          `CREATE TRIGGER refuse_one BEFORE UPDATE ON users FOR EACH ROW WHEN (NEW.id = '${failing.id}') EXECUTE FUNCTION refuse_one()`,
        ]
      : [
          `CREATE TRIGGER refuse_one BEFORE UPDATE ON users WHEN NEW.id = '${failing.id}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
        ];
    const drop = usingPostgres
      ? ['DROP TRIGGER refuse_one ON users', 'DROP FUNCTION refuse_one']
      : ['DROP TRIGGER refuse_one'];
    for (const sql of trigger) await app.services.db.write((m) => m.query(sql));
    try {
      const answer = await send(
        [before, failing, after].map((user) => ({ id: user.id, input: { jobTitle: 'Survivor' } })),
      );
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data.updateUsers.map((item: any) => item.error?.code ?? item.user.jobTitle)).toEqual(
        ['Survivor', 'INTERNAL_SERVER_ERROR', 'Survivor'],
      );
      expect(JSON.stringify(answer.body)).not.toContain('refused by the test');
      expect((await app.stored(failing.id)).version).toBe(1);
      expect((await app.stored(after.id)).jobTitle).toBe('Survivor');
    } finally {
      for (const sql of drop) await app.services.db.write((m) => m.query(sql));
    }
  });

  it('refuses more items than BULK_UPDATE_MAX_ITEMS, naming items, and applies none', async () => {
    const [user] = await members(1);
    const items = Array.from({ length: 101 }, (_, n) => ({ id: user.id, input: { jobTitle: `J${n}` } }));
    const answer = await send(items);
    expect(answer.body.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'items', message: expect.stringContaining('100') }],
    });
    expect((await app.stored(user.id)).version).toBe(1);
  });
});

describe('updateUsers and the write budget', () => {
  const app = useApp({ world: true, env: { RATE_LIMIT_PER_MINUTE: '10' } });

  it('each item counts against RATE_LIMIT_PER_MINUTE', async () => {
    const users = await Promise.all(Array.from({ length: 6 }, () => app.fixtures.user(app.world.orgId)));
    const items = (from: number, to: number) =>
      users.slice(from, to).map((user) => ({ id: user.id, input: { jobTitle: 'Budget' } }));
    const first = await gql(app.url, UPDATE_USERS, { items: items(0, 6) }, bearer(app.world.adminToken));
    expect(first.headers.get('ratelimit-remaining')).toBe('4');
    const second = await gql(app.url, UPDATE_USERS, { items: items(0, 5) }, bearer(app.world.adminToken));
    expect(second.status).toBe(429);
    expect(second.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
  });

  it('more items than a whole minute’s budget is refused as such (400, nothing spent), not told to retry', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Too many');
    const users = await Promise.all(Array.from({ length: 11 }, () => app.fixtures.user(orgId)));
    const items = users.map((user) => ({ id: user.id, input: { jobTitle: 'Never' } }));
    const answer = await gql(app.url, UPDATE_USERS, { items }, bearer(adminToken));
    expect(answer.status).toBe(400);
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(answer.body.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'operation', message: expect.stringMatching(/11 writes, more than the 10/) }],
    });
    for (const user of users) expect((await app.stored(user.id)).version).toBe(1);
    const next = await gql(app.url, UPDATE_USERS, { items: items.slice(0, 1) }, bearer(adminToken));
    expect(next.headers.get('ratelimit-remaining')).toBe('9');
    // More items than updateUsers takes at all: refused for that before any item is judged (400), and
    // nothing spent.
    const tooMany = Array.from({ length: 101 }, () => items[0]);
    const refused = await gql(app.url, UPDATE_USERS, { items: tooMany }, bearer(adminToken));
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'items', message: 'items takes at most 100 updates' }],
    });
    const after = await gql(app.url, UPDATE_USERS, { items: items.slice(0, 1) }, bearer(adminToken));
    expect(after.headers.get('ratelimit-remaining')).toBe('8');
  });

  it('a mutation whose variables do not coerce is refused as over HTTP (400, BAD_USER_INPUT), @skip or @include on it too', async () => {
    const { adminToken } = await app.fixtures.orgAdmin('Uncoerced');
    const skipped = 'mutation ($x: Boolean!) { updateMe(input: { jobTitle: "a" }) @skip(if: $x) { id } }';
    for (const variables of [{}, { x: null }, { x: 'yes' }]) {
      const res = await gql(app.url, skipped, variables, bearer(adminToken));
      expect({ variables, status: res.status, code: res.body.errors?.[0].extensions?.code }).toEqual({
        variables,
        status: 400,
        code: 'BAD_USER_INPUT',
      });
    }
  });

  it('items behind fragments, and aliased mutation fields, count one each too', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Fragments');
    const users = await Promise.all(Array.from({ length: 3 }, () => app.fixtures.user(orgId)));
    const items = users.map((user) => ({ id: user.id, input: { jobTitle: 'Spread' } }));
    const remaining = async (query: string, variables: Record<string, unknown> = {}) => {
      const answer = await gql(app.url, query, variables, bearer(adminToken));
      expect(answer.body.errors).toBeUndefined();
      return Number(answer.headers.get('ratelimit-remaining'));
    };
    const spread = `mutation ($items: [UpdateUsersItem!]!) { ...Bulk }
      fragment Bulk on Mutation { updateUsers(items: $items) { changedFields } }`;
    expect(await remaining(spread, { items })).toBe(7);
    const inline = `mutation ($items: [UpdateUsersItem!]!) { ... on Mutation { updateUsers(items: $items) { changedFields } } }`;
    expect(await remaining(inline, { items })).toBe(4);
    const aliases = `mutation ($id: ID!, $skipped: Boolean = true) {
      a: updateUser(id: $id, input: { jobTitle: "A" }) { version }
      b: updateUser(id: $id, input: { jobTitle: "B" }) { version }
      c: updateUser(id: $id, input: { jobTitle: "C" }) @skip(if: $skipped) { version } }`;
    expect(await remaining(aliases, { id: users[0].id })).toBe(2);
  });
});

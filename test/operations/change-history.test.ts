import { Role } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import type { User } from '../../src/entities/user.entity';
import { TEST_JWT_SECRET, bearer, gql, useApp } from '../support/harness';
import { runCli, singleJsonObject } from '../support/processes';

const CHANGE_FIELDS = 'id userId actorUserId credentialId requestId changedFields changes createdAt';

const HISTORY = `query ($userId: ID!, $first: Int, $after: String) {
  userChanges(userId: $userId, first: $first, after: $after) {
    edges { cursor node { ${CHANGE_FIELDS} } }
    nodes { ${CHANGE_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Caller {
  user: User;
  credentialId: string;
  token: string;
}

describe('change history', () => {
  let orgId: string;
  let admin: Caller;
  let member: Caller;
  let outsider: Caller;
  const tokens: string[] = [];

  const caller = async (org: string, role: Role, name: string): Promise<Caller> => {
    const user = await app.fixtures.user(org, { role, name });
    const { id, token } = await app.fixtures.token(user.id);
    tokens.push(token);
    return { user, credentialId: id, token };
  };

  /** Every stored entry for a user, oldest first, read straight from the database. */
  const storedChanges = (userId: string) =>
    app.server.services.db.read((m) =>
      m.getRepository(UserChange).find({ where: { userId }, order: { seq: 'ASC' } }),
    );
  const changeCount = () => app.server.services.db.read((m) => m.getRepository(UserChange).count());

  const history = (token: string, userId: string, first?: number, after?: string | null) =>
    gql(app.url, HISTORY, { userId, first, after }, bearer(token));

  const app = useApp();

  beforeAll(async () => {
    orgId = await app.fixtures.org('History Org');
    admin = await caller(orgId, Role.ADMIN, 'Hanna Admin');
    member = await caller(orgId, Role.MEMBER, 'Milo Member');
    outsider = await caller(await app.fixtures.org('Elsewhere'), Role.ADMIN, 'Otto Outsider');
  });

  it('updateMe writes exactly one entry with the actor, credential, fields before and after, request id and time', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Before Name');
    const started = Date.now();
    const res = await gql(
      app.url,
      'mutation { updateMe(input: { name: "After Name", jobTitle: "Engineer" }) { id version updatedAt } }',
      {},
      { ...bearer(target.token), 'x-request-id': 'req-history-update-me-1' },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.headers.get('x-request-id')).toBe('req-history-update-me-1');

    const entries = await storedChanges(target.user.id);
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry).toMatchObject({
      id: expect.stringMatching(/^chg_/),
      organizationId: orgId,
      userId: target.user.id,
      actorUserId: target.user.id,
      credentialId: target.credentialId,
      requestId: 'req-history-update-me-1',
      changedFields: expect.arrayContaining(['name', 'jobTitle']),
      changes: {
        name: { before: 'Before Name', after: 'After Name' },
        jobTitle: { before: null, after: 'Engineer' },
      },
    });
    expect(entry.changedFields).toHaveLength(2);
    // The entry carries the change's own timestamp.
    expect(entry.createdAt).toBe(res.body.data.updateMe.updatedAt);
    expect(Date.parse(entry.createdAt)).toBeGreaterThanOrEqual(started - 1000);
    expect(Date.parse(entry.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);

    // Admins read the same entry over GraphQL.
    const read = await history(admin.token, target.user.id);
    expect(read.body.errors).toBeUndefined();
    expect(read.body.data.userChanges.nodes).toEqual([
      {
        id: entry.id,
        userId: target.user.id,
        actorUserId: target.user.id,
        credentialId: target.credentialId,
        requestId: 'req-history-update-me-1',
        changedFields: entry.changedFields,
        changes: entry.changes,
        createdAt: entry.createdAt,
      },
    ]);
  });

  it('a field the change did not really alter is not history (emailVerified stays false)', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Verified Flip');
    const admin = await caller(orgId, Role.ADMIN, 'Flip Admin');
    // An admin's change of another user's email applies at once (a user's own waits for confirmation).
    const newEmail = async (email: string) =>
      gql(
        app.url,
        'mutation ($id: ID!, $e: String!) { updateMe: updateUser(id: $id, input: { email: $e }) { emailVerified } }',
        { id: target.user.id, e: email },
        bearer(admin.token),
      );
    const unverified = await newEmail('flip.one@example.com');
    expect(unverified.body.extensions?.changedFields).toEqual({ updateMe: ['email'] });
    await app.server.services.db.write((m) =>
      m.query(
        app.server.services.db.dataSource.options.type === 'postgres'
          ? 'UPDATE users SET email_verified = true WHERE id = $1'
          : 'UPDATE users SET email_verified = 1 WHERE id = ?',
        [target.user.id],
      ),
    );
    const reset = await newEmail('flip.two@example.com');
    expect(reset.body.data.updateMe.emailVerified).toBe(false);
    expect(reset.body.extensions?.changedFields.updateMe.sort()).toEqual(['email', 'emailVerified']);
    const entries = await storedChanges(target.user.id);
    expect(entries.map((e) => e.changes)).toEqual([
      { email: { before: target.user.email, after: 'flip.one@example.com' } },
      {
        email: { before: 'flip.one@example.com', after: 'flip.two@example.com' },
        emailVerified: { before: true, after: false },
      },
    ]);
  });

  it("updateUser by an admin records the admin and the admin's credential, not the changed user", async () => {
    const target = await caller(orgId, Role.MEMBER, 'Target Of Admin');
    const res = await gql(
      app.url,
      `mutation ($id: ID!) {
        updateUser(id: $id, input: { role: VIEWER, email: "Renamed.Target@Example.com", metadata: { team: "core" } }) { id }
      }`,
      { id: target.user.id },
      { ...bearer(admin.token), 'x-request-id': 'req-history-update-user-1' },
    );
    expect(res.body.errors).toBeUndefined();
    const entries = await storedChanges(target.user.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      userId: target.user.id,
      actorUserId: admin.user.id,
      credentialId: admin.credentialId,
      requestId: 'req-history-update-user-1',
      changes: {
        role: { before: 'member', after: 'viewer' },
        email: { before: target.user.email, after: 'Renamed.Target@Example.com' },
        metadata: { before: {}, after: { team: 'core' } },
      },
    });
    // The lower-cased copy kept for the unique index is not a field of the API, so it is not history.
    expect([...entries[0].changedFields].sort()).toEqual(['email', 'metadata', 'role']);
    expect(Object.keys(entries[0].changes).sort()).toEqual(['email', 'metadata', 'role']);
    // Read over GraphQL, enum values are spelled as every other read spells them.
    const [read] = (await history(admin.token, target.user.id, 1)).body.data.userChanges.nodes;
    expect(read.changes.role).toEqual({ before: 'MEMBER', after: 'VIEWER' });
  });

  it('a change through a REST endpoint writes one entry with the request id sent to the endpoint', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Rest Target');
    const res = await fetch(`${app.url}/api/v1/users/${target.user.id}`, {
      method: 'PATCH',
      headers: {
        ...bearer(admin.token),
        'content-type': 'application/json',
        'x-request-id': 'req-history-rest-1',
      },
      body: JSON.stringify({ name: 'Rest Renamed' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-history-rest-1');
    const entries = await storedChanges(target.user.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actorUserId: admin.user.id,
      credentialId: admin.credentialId,
      requestId: 'req-history-rest-1',
      changedFields: ['name'],
      changes: { name: { before: 'Rest Target', after: 'Rest Renamed' } },
    });
  });

  it('a request without X-Request-Id stores the id the server generated and returned', async () => {
    const target = await caller(orgId, Role.MEMBER, 'No Request Id');
    const res = await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "Generated" }) { id } }',
      {},
      bearer(target.token),
    );
    const generated = res.headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect((await storedChanges(target.user.id)).map((c) => c.requestId)).toEqual([generated]);
  });

  it('a no-op update writes nothing and reports an empty list of changed fields', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Same Name');
    const before = await changeCount();
    const res = await gql(
      app.url,
      `mutation ($id: ID!) {
        updateMe(input: { name: "Same Name" }) { id version }
        again: updateUser(id: $id, input: { name: "Same Name", jobTitle: null }) { id version }
      }`,
      { id: target.user.id },
      bearer(target.token),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.updateMe.version).toBe(1);
    expect(res.body.extensions).toEqual({ changedFields: { updateMe: [], again: [] } });
    expect(await changeCount()).toBe(before);
  });

  it('refused requests (validation, rights, conflicts, bad credential) write nothing', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Refusal Target');
    const other = await caller(orgId, Role.MEMBER, 'Other Member');
    const before = await changeCount();
    const refusals = await Promise.all([
      // validation
      gql(
        app.url,
        'mutation { updateMe(input: { email: "not an email", name: "" }) { id } }',
        {},
        bearer(target.token),
      ),
      // rights: a member changing someone else, and a member changing their own role
      gql(
        app.url,
        'mutation ($id: ID!) { updateUser(id: $id, input: { name: "Hijacked" }) { id } }',
        { id: other.user.id },
        bearer(target.token),
      ),
      gql(
        app.url,
        'mutation ($id: ID!) { updateUser(id: $id, input: { role: ADMIN }) { id } }',
        { id: target.user.id },
        bearer(target.token),
      ),
      // another organization's admin
      gql(
        app.url,
        'mutation ($id: ID!) { updateUser(id: $id, input: { name: "Foreign" }) { id } }',
        { id: target.user.id },
        bearer(outsider.token),
      ),
      // conflicts: a taken email and a stale expected version
      gql(
        app.url,
        'mutation ($email: String!) { updateMe(input: { email: $email, jobTitle: "x" }) { id } }',
        { email: other.user.email.toUpperCase() },
        bearer(target.token),
      ),
      gql(
        app.url,
        'mutation { updateMe(input: { jobTitle: "stale" }, expectedVersion: 7) { id } }',
        {},
        bearer(target.token),
      ),
      // a bad credential
      gql(app.url, 'mutation { updateMe(input: { jobTitle: "anon" }) { id } }', {}, bearer('pat_nope')),
    ]);
    expect(refusals.map((r) => r.body.errors?.[0]?.extensions?.code)).toEqual([
      'BAD_USER_INPUT',
      'FORBIDDEN',
      'FORBIDDEN',
      'NOT_FOUND',
      'CONFLICT',
      'CONFLICT',
      'UNAUTHENTICATED',
    ]);
    for (const r of refusals) expect(r.body.extensions?.changedFields).toBeUndefined();

    const restRefused = await fetch(`${app.url}/api/v1/users/${target.user.id}`, {
      method: 'PATCH',
      headers: { ...bearer(admin.token), 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'broken', name: 'Rest Refused' }),
    });
    expect(restRefused.status).toBe(400);

    expect(await changeCount()).toBe(before);
    expect(await app.stored(target.user.id)).toMatchObject({ version: 1, name: 'Refusal Target' });
  });

  it('userChanges pages newest first with a cursor, for admins of the organization', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Paged');
    for (let i = 1; i <= 5; i++) {
      const res = await gql(
        app.url,
        'mutation ($t: String) { updateMe(input: { jobTitle: $t }) { id } }',
        { t: `title ${i}` },
        bearer(target.token),
      );
      expect(res.body.errors).toBeUndefined();
    }
    const afterValues = (page: any) => page.nodes.map((n: any) => n.changes.jobTitle.after);

    const first = (await history(admin.token, target.user.id, 2)).body.data.userChanges;
    expect(afterValues(first)).toEqual(['title 5', 'title 4']);
    expect(first.pageInfo).toEqual({ hasNextPage: true, endCursor: first.edges[1].cursor });
    expect(first.edges.map((e: any) => e.node.id)).toEqual(first.nodes.map((n: any) => n.id));

    const second = (await history(admin.token, target.user.id, 2, first.pageInfo.endCursor)).body.data
      .userChanges;
    expect(afterValues(second)).toEqual(['title 3', 'title 2']);
    expect(second.nodes[0].changes.jobTitle.before).toBe('title 2');
    expect(second.pageInfo.hasNextPage).toBe(true);

    const last = (await history(admin.token, target.user.id, 2, second.pageInfo.endCursor)).body.data
      .userChanges;
    expect(afterValues(last)).toEqual(['title 1']);
    expect(last.nodes[0].changes.jobTitle.before).toBeNull();
    expect(last.pageInfo.hasNextPage).toBe(false);

    // The default page holds all five, newest first, with non-increasing times.
    const all = (await history(admin.token, target.user.id)).body.data.userChanges.nodes;
    expect(afterValues({ nodes: all })).toEqual(['title 5', 'title 4', 'title 3', 'title 2', 'title 1']);
    const times = all.map((n: any) => Date.parse(n.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const badCursor = await history(admin.token, target.user.id, 2, 'not-a-cursor');
    expect(badCursor.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    const tooMany = await history(admin.token, target.user.id, 1000);
    expect(tooMany.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it("a member cannot read change history, not even their own, and another organization's user is not found", async () => {
    await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "member title" }) { id } }',
      {},
      bearer(member.token),
    );
    const own = await history(member.token, member.user.id);
    expect(own.body.data).toBeNull();
    expect(own.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');

    const foreign = await history(outsider.token, member.user.id);
    const missing = await history(outsider.token, 'usr_doesnotexist000000');
    expect(foreign.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    // Another organization's user looks exactly like a missing one.
    expect(foreign.body.errors?.[0].message).toBe(missing.body.errors?.[0].message);
    expect(foreign.body.data).toEqual(missing.body.data);

    const anonymous = await gql(app.url, HISTORY, { userId: member.user.id });
    expect(anonymous.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('mutations report changedFields by response key, aliases included', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Alias Target');
    const res = await gql(
      app.url,
      `mutation ($id: ID!) {
        first: updateMe(input: { jobTitle: "Aliased", timezone: "Europe/London" }) { id }
        second: updateMe(input: { jobTitle: "Aliased" }) { id }
        byAdmin: updateUser(id: $id, input: { email: "alias.target@example.com" }) { id }
      }`,
      { id: target.user.id },
      bearer(target.token),
    );
    expect(res.body.errors).toBeUndefined();
    const changed = res.body.extensions?.changedFields;
    expect(changed.second).toEqual([]);
    expect([...changed.first].sort()).toEqual(['jobTitle', 'timezone']);
    // Users' own new email waits for confirmation, also through updateUser.
    expect(changed.byAdmin).toEqual(['pendingEmail']);
    expect(Object.keys(changed).sort()).toEqual(['byAdmin', 'first', 'second']);
    // One entry per real change: two here, none for the no-op in the middle.
    expect(await storedChanges(target.user.id)).toHaveLength(2);

    // Queries carry no changedFields extension.
    const query = await gql(app.url, '{ me { id } }', {}, bearer(target.token));
    expect(query.body.extensions?.changedFields).toBeUndefined();
  });

  it('entries never contain a token or a secret', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Secret Keeper');
    await gql(
      app.url,
      'mutation { updateMe(input: { name: "Secret Keeper 2", jobTitle: "Vault" }) { id } }',
      {},
      bearer(target.token),
    );
    await fetch(`${app.url}/api/v1/users/${target.user.id}`, {
      method: 'PATCH',
      headers: { ...bearer(admin.token), 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { shelf: 'top' } }),
    });
    const stored = JSON.stringify(
      await app.server.services.db.read((m) => m.query('SELECT * FROM user_changes')),
    );
    const served = JSON.stringify((await history(admin.token, target.user.id)).body);
    expect(served).toContain('Vault');
    for (const text of [stored, served]) {
      for (const token of tokens) expect(text).not.toContain(token);
      expect(text).not.toContain(TEST_JWT_SECRET);
      expect(text).not.toMatch(/(pat|key|oat)_[A-Za-z0-9_-]{20,}/);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\./);
    }
  });

  it('the CLI `user history` prints the entries, for people and as one JSON object', async () => {
    const target = await caller(orgId, Role.MEMBER, 'Cli History');
    await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "first" }) { id } }',
      {},
      { ...bearer(target.token), 'x-request-id': 'req-cli-1' },
    );
    await gql(
      app.url,
      'mutation ($id: ID!) { updateUser(id: $id, input: { name: "Cli History Renamed" }) { id } }',
      { id: target.user.id },
      { ...bearer(admin.token), 'x-request-id': 'req-cli-2' },
    );
    const [human, json] = await Promise.all([
      runCli(app.server.env, 'user', 'history', target.user.id),
      runCli(app.server.env, 'user', 'history', target.user.id, '--json'),
    ]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toContain(`by ${admin.user.id} (${admin.credentialId}, request req-cli-2)`);
    expect(human.stdout).toContain(`by ${target.user.id} (${target.credentialId}, request req-cli-1)`);
    expect(human.stdout).toContain('name: "Cli History" -> "Cli History Renamed"');
    expect(human.stdout).toContain('jobTitle: null -> "first"');
    // Newest first.
    expect(human.stdout.indexOf('req-cli-2')).toBeLessThan(human.stdout.indexOf('req-cli-1'));

    expect(json).toMatchObject({ code: 0, stderr: '' });
    const value = singleJsonObject(json.stdout);
    expect(value).toEqual({
      userId: target.user.id,
      hasMore: false,
      changes: [
        {
          id: expect.stringMatching(/^chg_/),
          at: expect.any(String),
          actorUserId: admin.user.id,
          credentialId: admin.credentialId,
          requestId: 'req-cli-2',
          changes: { name: { before: 'Cli History', after: 'Cli History Renamed' } },
        },
        {
          id: expect.stringMatching(/^chg_/),
          at: expect.any(String),
          actorUserId: target.user.id,
          credentialId: target.credentialId,
          requestId: 'req-cli-1',
          changes: { jobTitle: { before: null, after: 'first' } },
        },
      ],
    });
  }, 60_000);
});

describe('change history atomicity', () => {
  const app = useApp();

  it('when the history entry cannot be written the change is rolled back and the request fails', async () => {
    const orgId = await app.fixtures.org('Atomic');
    const admin = await app.fixtures.user(orgId, { role: Role.ADMIN, name: 'Atomic Admin' });
    const user = await app.fixtures.user(orgId, { name: 'Atomic User' });
    const userToken = (await app.fixtures.token(user.id)).token;
    const adminToken = (await app.fixtures.token(admin.id)).token;
    const before = await app.stored(user.id);

    // Through the app's database, one unit of work among its others (its background work included).
    await app.services.db.write((m) => m.query('ALTER TABLE user_changes RENAME TO user_changes_moved'));
    try {
      const [me, byAdmin, rest] = await Promise.all([
        gql(
          app.url,
          'mutation { updateMe(input: { name: "Half Written", jobTitle: "x" }) { id } }',
          {},
          bearer(userToken),
        ),
        gql(
          app.url,
          'mutation ($id: ID!) { updateUser(id: $id, input: { role: VIEWER }) { id } }',
          { id: user.id },
          bearer(adminToken),
        ),
        fetch(`${app.url}/api/v1/users/${user.id}`, {
          method: 'PATCH',
          headers: { ...bearer(adminToken), 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Half Written Rest' }),
        }),
      ]);
      for (const res of [me, byAdmin]) {
        expect(res.body.data).toBeNull();
        expect(res.body.errors?.[0]).toMatchObject({
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
        // Neither SQL nor table names reach the client.
        expect(JSON.stringify(res.body)).not.toMatch(/user_changes|SQL|INSERT/i);
        expect(res.body.extensions?.changedFields).toBeUndefined();
      }
      expect(rest.status).toBe(500);
      expect(await rest.text()).not.toMatch(/user_changes|SQL|INSERT/i);

      const after = await app.stored(user.id);
      expect(after).toEqual(before);
    } finally {
      await app.services.db.write((m) => m.query('ALTER TABLE user_changes_moved RENAME TO user_changes'));
    }

    // Restored: the same change now commits together with exactly one entry.
    const retry = await gql(
      app.url,
      'mutation { updateMe(input: { name: "Whole" }) { version } }',
      {},
      bearer(userToken),
    );
    expect(retry.body.data.updateMe.version).toBe(before.version + 1);
    const entries = await app.server.services.db.read((m) =>
      m.getRepository(UserChange).find({ where: { userId: user.id } }),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0].changes).toEqual({ name: { before: 'Atomic User', after: 'Whole' } });
  });
});

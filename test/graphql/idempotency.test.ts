import { IdempotencyKey } from '../../src/entities/idempotency-key.entity';
import { UserChange } from '../../src/entities/user-change.entity';
import { requestFingerprint } from '../../src/services/idempotency.service';
import { Fixtures, bearer, gql, useApp, withServer } from '../support/harness';
import { pollUntil } from '../support/poll';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $expectedVersion: Int, $dryRun: Boolean) {
  updateUser(id: $id, input: $input, expectedVersion: $expectedVersion, dryRun: $dryRun) { id name version } }`;

/** An Idempotency-Key on a GraphQL mutation means what it means on the REST writes. */
describe('Idempotency-Key on GraphQL mutations', () => {
  const app = useApp({ world: true });
  let n = 0;
  const key = () => ({ 'idempotency-key': `gql-${Date.now()}-${++n}` });
  const history = (userId: string) =>
    app.server.services.db.read((m) => m.getRepository(UserChange).countBy({ userId }));
  const update = (
    variables: Record<string, unknown>,
    headers: Record<string, string>,
    token = app.world.adminToken,
  ) => gql(app.url, UPDATE_USER, variables, { ...bearer(token), ...headers });

  it('a retry gets the first answer, marked Idempotent-Replayed, and writes once', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    const first = await update({ id: user.id, input: { name: 'Once' } }, headers);
    expect(first.body.data.updateUser).toMatchObject({ name: 'Once', version: 2 });
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const retry = await update({ id: user.id, input: { name: 'Once' } }, headers);
    expect(retry.status).toBe(first.status);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await history(user.id)).toBe(1);
  });

  it('stored answers go after 24 hours: expired keys are deleted as new keys are used', async () => {
    // A server of its own: the deletion runs at most once a minute per process, on the first key used.
    await withServer({}, async (server) => {
      const fixtures = new Fixtures(server.services);
      const { admin, adminToken } = await fixtures.orgAdmin('Purge');
      const credential = await fixtures.token(admin.id);
      const keys = () => server.services.db.read((m) => m.getRepository(IdempotencyKey).find());
      const past = new Date(Date.now() - 25 * 3600_000).toISOString();
      await server.services.db.write((m) =>
        m.getRepository(IdempotencyKey).insert({
          id: 'idem_expired',
          credentialId: credential.id,
          key: 'yesterday',
          fingerprint: 'f',
          status: 200,
          responseBody: '{"secret":"whsec_kept_too_long"}',
          responseHeaders: {},
          appliedResult: null,
          createdAt: past,
          expiresAt: new Date(Date.parse(past) + 24 * 3600_000).toISOString(),
        }),
      );
      expect((await keys()).map((row) => row.id)).toEqual(['idem_expired']);
      const first = await gql(
        server.url,
        UPDATE_USER,
        { id: admin.id, input: { name: 'Purges' } },
        {
          ...bearer(adminToken),
          ...key(),
        },
      );
      expect(first.body.errors).toBeUndefined();
      const left = await pollUntil(keys, (rows) => rows.length === 1, {
        failure: (rows) => `keys left: ${rows.map((row) => row.key).join(', ')}`,
      });
      expect(left[0].key).not.toBe('yesterday');
    });
  });

  it('the same key with another request is 422, and one still running is 409; neither writes', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    await update({ id: user.id, input: { name: 'First' } }, headers);
    const other = await update({ id: user.id, input: { name: 'Second' } }, headers);
    expect(other.status).toBe(422);
    expect(other.body.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const running = key();
    const variables = { id: user.id, input: { name: 'Running' } };
    const fingerprint = requestFingerprint(
      'POST',
      '/graphql',
      JSON.stringify({ query: UPDATE_USER, variables }),
    );
    const credential = await app.fixtures.token(app.world.admin.id);
    await app.server.services.idempotency.start(credential.id, running['idempotency-key'], fingerprint);
    const busy = await update(variables, running, credential.token);
    expect(busy.status).toBe(409);
    expect(busy.body.errors?.[0].extensions?.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(await app.stored(user.id)).toMatchObject({ name: 'First', version: 2 });
  });

  it('keys are per credential: another credential with the same key writes', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    await update({ id: user.id, input: { jobTitle: 'A' } }, headers);
    const secondToken = (await app.fixtures.token(app.world.admin.id)).token;
    const other = await update({ id: user.id, input: { jobTitle: 'B' } }, headers, secondToken);
    expect(other.body.data.updateUser).toMatchObject({ version: 3 });
  });

  it('a mutation refused without writing releases its key: the retry runs again', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    const variables = { id: user.id, input: { name: 'Late' }, expectedVersion: 5 };
    const refused = await update(variables, headers);
    expect(refused.body.errors?.[0].extensions?.code).toBe('CONFLICT');
    const again = await update(variables, headers);
    expect(again.body.errors?.[0].extensions?.code).toBe('CONFLICT');
    expect(again.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a write that committed but whose answer was never stored is answered from the write, not made again', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    const first = await update({ id: user.id, input: { name: 'Committed' } }, headers);
    // As if the process died after the write's commit, before the answer was stored.
    await app.server.services.db.write((m) =>
      m
        .getRepository(IdempotencyKey)
        .update(
          { key: headers['idempotency-key'] },
          { status: null, responseBody: null, responseHeaders: null },
        ),
    );
    const retry = await update({ id: user.id, input: { name: 'Committed' } }, headers);
    expect(retry.body.data.updateUser).toEqual(first.body.data.updateUser);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await history(user.id)).toBe(1);
    expect((await app.stored(user.id)).version).toBe(2);
  });

  it('a dry run claims nothing: the real mutation with the same key writes', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const headers = key();
    const dry = await update({ id: user.id, input: { name: 'Dry' }, dryRun: true }, headers);
    expect(dry.body.data.updateUser).toMatchObject({ name: 'Dry', version: 2 });
    const real = await update({ id: user.id, input: { name: 'Dry' } }, headers);
    expect(real.headers.get('idempotent-replayed')).toBeNull();
    expect((await app.stored(user.id)).version).toBe(2);
    // dryRun from the default of its variable is a dry run as well.
    const defaulted = key();
    const byDefault = `mutation ($id: ID!, $dry: Boolean = true) { updateUser(id: $id, input: { name: "Dry default" }, dryRun: $dry) { version } }`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await gql(
        app.url,
        byDefault,
        { id: user.id },
        { ...bearer(app.world.adminToken), ...defaulted },
      );
      expect([answer.body.data.updateUser.version, answer.headers.get('idempotent-replayed')]).toEqual([
        3,
        null,
      ]);
    }
    const after = await update({ id: user.id, input: { name: 'Dry default' } }, defaulted);
    expect([after.body.data.updateUser.version, after.headers.get('idempotent-replayed')]).toEqual([3, null]);
  });

  it('refuses a malformed key and a keyed request with two mutations; a query ignores its key', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const bad = await update({ id: user.id, input: { name: 'X' } }, { 'idempotency-key': 'has space' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'Idempotency-Key' }],
    });
    const two = await gql(
      app.url,
      `mutation { a: updateMe(input: { jobTitle: "A" }) { version } b: updateMe(input: { jobTitle: "B" }) { version } }`,
      {},
      { ...bearer(app.world.adminToken), ...key() },
    );
    expect(two.status).toBe(400);
    expect(two.body.errors?.[0].message).toMatch(/exactly one mutation field/);
    const query = await gql(app.url, '{ me { id } }', {}, { ...bearer(app.world.adminToken), ...key() });
    expect(query.body.data.me.id).toBe(app.world.admin.id);
    // Even a malformed one: a query has nothing to make idempotent.
    const malformed = await gql(
      app.url,
      '{ me { id } }',
      {},
      { ...bearer(app.world.adminToken), 'idempotency-key': 'has space' },
    );
    expect(malformed.status).toBe(200);
    expect(malformed.body.data.me.id).toBe(app.world.admin.id);
    expect((await app.stored(user.id)).version).toBe(1);
  });

  it('updateUsers under a key: the retry replays the whole answer and writes nothing more', async () => {
    const users = await Promise.all([app.fixtures.user(app.world.orgId), app.fixtures.user(app.world.orgId)]);
    const headers = { ...bearer(app.world.adminToken), ...key() };
    const bulk = `mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items) { user { id version } error { code } } }`;
    const items = [
      { id: users[0].id, input: { jobTitle: 'Bulk' } },
      { id: users[1].id, input: { timezone: 'Nowhere/Else' } },
    ];
    const first = await gql(app.url, bulk, { items }, headers);
    expect(first.body.data.updateUsers.map((r: any) => r.error?.code ?? r.user.version)).toEqual([
      2,
      'BAD_USER_INPUT',
    ]);
    const retry = await gql(app.url, bulk, { items }, headers);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await history(users[0].id)).toBe(1);
  });
});

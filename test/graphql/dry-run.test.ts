import { Role } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import { bearer, gql, useApp, USER_FIELDS } from '../support/harness';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $expectedVersion: Int, $dryRun: Boolean) {
  updateUser(id: $id, input: $input, expectedVersion: $expectedVersion, dryRun: $dryRun) { ${USER_FIELDS} } }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!, $dryRun: Boolean) {
  updateMe(input: $input, dryRun: $dryRun) { ${USER_FIELDS} } }`;

/** `dryRun: true` answers exactly as the real call would, and writes nothing. */
describe('dry runs of updateMe and updateUser', () => {
  const app = useApp({ world: true });
  const history = (userId: string) =>
    app.server.services.db.read((m) => m.getRepository(UserChange).countBy({ userId }));

  /** Runs `variables` as a dry run and for real on two identical users, and returns both answers. */
  async function dryThenReal(input: Record<string, unknown>) {
    const dry = await app.fixtures.user(app.world.orgId, { name: 'Twin' });
    const real = await app.fixtures.user(app.world.orgId, { name: 'Twin' });
    const send = (id: string, dryRun: boolean) =>
      gql(app.url, UPDATE_USER, { id, input, dryRun }, bearer(app.world.adminToken));
    return { dry, real, dryAnswer: await send(dry.id, true), realAnswer: await send(real.id, false) };
  }

  it('answers with the user as it would be and the fields it would change, and stores nothing', async () => {
    const input = { name: 'Dry Name', jobTitle: 'Tester', metadata: { team: 'qa' } };
    const { dry, dryAnswer, realAnswer } = await dryThenReal(input);
    expect(dryAnswer.body.errors).toBeUndefined();
    const strip = (user: Record<string, unknown>) => ({
      ...user,
      id: 0,
      numericId: 0,
      uuid: 0,
      email: 0,
      createdAt: 0,
      updatedAt: 0,
    });
    expect(strip(dryAnswer.body.data.updateUser)).toEqual(strip(realAnswer.body.data.updateUser));
    expect(dryAnswer.body.data.updateUser).toMatchObject({ name: 'Dry Name', version: 2 });
    expect(dryAnswer.body.extensions?.changedFields).toEqual(realAnswer.body.extensions?.changedFields);
    expect(await app.stored(dry.id)).toMatchObject({
      name: 'Twin',
      jobTitle: null,
      version: 1,
      metadata: {},
    });
    expect(await history(dry.id)).toBe(0);
  });

  it('a dry run of updateMe writes nothing either, and a no-op reports no changed fields', async () => {
    const me = await app.fixtures.user(app.world.orgId, { name: 'Self' });
    const token = (await app.fixtures.token(me.id)).token;
    const changed = await gql(app.url, UPDATE_ME, { input: { name: 'Other' }, dryRun: true }, bearer(token));
    expect(changed.body.data.updateMe).toMatchObject({ name: 'Other', version: 2 });
    expect(changed.body.extensions?.changedFields).toEqual({ updateMe: ['name'] });
    const same = await gql(app.url, UPDATE_ME, { input: { name: 'Self' }, dryRun: true }, bearer(token));
    expect(same.body.data.updateMe).toMatchObject({ name: 'Self', version: 1 });
    expect(same.body.extensions?.changedFields).toEqual({ updateMe: [] });
    expect(await app.stored(me.id)).toMatchObject({ name: 'Self', version: 1 });
  });

  it.each([
    ['an email another user has (in another capitalisation)', 'email', 'CONFLICT'],
    ['a username another user has', 'username', 'CONFLICT'],
    ['an invalid field', 'bad', 'BAD_USER_INPUT'],
  ])('refuses %s with the error the real call gives', async (_, what, code) => {
    const holder = await app.fixtures.user(app.world.orgId, { username: `holder${Date.now()}` });
    const input =
      what === 'email'
        ? { email: holder.email.toUpperCase() }
        : what === 'username'
          ? { username: holder.username!.toUpperCase() }
          : { timezone: 'Mars/Olympus' };
    const { dry, dryAnswer, realAnswer } = await dryThenReal(input);
    expect(realAnswer.body.errors?.[0].extensions).toMatchObject({ code });
    expect(dryAnswer.body.errors?.[0]).toEqual(realAnswer.body.errors?.[0]);
    expect(dryAnswer.body.data).toBeNull();
    expect(await app.stored(dry.id)).toMatchObject({ version: 1 });
  });

  it('refuses a stale expectedVersion, a member changing someone else and the last admin’s demotion', async () => {
    const target = await app.fixtures.user(app.world.orgId);
    const stale = await gql(
      app.url,
      UPDATE_USER,
      { id: target.id, input: { name: 'X' }, expectedVersion: 7, dryRun: true },
      bearer(app.world.adminToken),
    );
    expect(stale.body.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', currentVersion: 1 });
    const member = await gql(
      app.url,
      UPDATE_USER,
      { id: target.id, input: { name: 'X' }, dryRun: true },
      bearer(app.world.memberToken),
    );
    expect(member.body.errors?.[0].extensions).toMatchObject({ code: 'FORBIDDEN' });
    const orgId = await app.fixtures.org('Dry single admin');
    const admin = await app.fixtures.user(orgId, { role: Role.ADMIN });
    const token = (await app.fixtures.token(admin.id)).token;
    const demotion = await gql(app.url, UPDATE_ME, { input: { name: 'Still' }, dryRun: true }, bearer(token));
    expect(demotion.body.errors).toBeUndefined();
    const last = await gql(
      app.url,
      UPDATE_USER,
      { id: admin.id, input: { role: 'MEMBER' }, dryRun: true },
      bearer(token),
    );
    expect(last.body.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'role' });
    expect(await app.stored(admin.id)).toMatchObject({ role: Role.ADMIN, version: 1 });
  });
});

import { USER_FIELDS, bearer, gql, useApp } from '../support/harness';

const UPDATE_ME = `mutation ($input: UpdateMeInput!, $expectedVersion: Int) {
  updateMe(input: $input, expectedVersion: $expectedVersion) { ${USER_FIELDS} } }`;

describe('updateMe', () => {
  const app = useApp({ world: true });

  const updateMe = (
    input: Record<string, unknown>,
    token = app.world.memberToken,
    extra: Record<string, unknown> = {},
  ) => gql(app.url, UPDATE_ME, { input, ...extra }, bearer(token));

  it('changes only the fields sent and bumps the version once', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await updateMe({
      jobTitle: 'Engineer',
      experiments: ['a', 'b'],
      projectsSortOrder: 'NAME_ASC',
    });
    expect(res.body.errors).toBeUndefined();
    const user = res.body.data.updateMe;
    expect(user).toMatchObject({
      id: app.world.member.id,
      name: before.name,
      email: before.email,
      jobTitle: 'Engineer',
      experiments: ['a', 'b'],
      projectsSortOrder: 'NAME_ASC',
      version: before.version + 1,
      organization: { id: app.world.orgId, name: 'Acme' },
    });
    const after = await app.stored(app.world.member.id);
    expect(after).toMatchObject({
      jobTitle: 'Engineer',
      name: before.name,
      email: before.email,
      projectsSortOrder: 'name-asc',
    });
    expect(after.createdAt).toBe(before.createdAt);
    expect(after.updatedAt > before.updatedAt).toBe(true);
  });

  it('leaves absent fields alone and clears nullable fields sent as null', async () => {
    await updateMe({
      firstName: 'Max',
      lastName: 'Mustermann',
      companyName: 'Acme',
      timezone: 'Europe/Paris',
    });
    const res = await updateMe({ firstName: null, timezone: null });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.updateMe).toMatchObject({
      firstName: null,
      lastName: 'Mustermann',
      companyName: 'Acme',
      timezone: null,
    });
  });

  it('refuses null for required fields', async () => {
    const res = await updateMe({ name: null, email: null });
    expect(res.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0].extensions?.fields.map((f: any) => f.field).sort()).toEqual([
      'email',
      'name',
    ]);
  });

  it('reports every invalid field at once and changes nothing', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await updateMe({
      name: '',
      email: 'not-an-email',
      timezone: 'Mars/Olympus',
      experiments: Array.from({ length: 51 }, () => 'x'),
      username: 'has spaces',
      jobTitle: 'x'.repeat(201),
    });
    const error = res.body.errors?.[0];
    expect(error?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error?.extensions?.fields.map((f: any) => f.field).sort()).toEqual(
      ['email', 'experiments', 'jobTitle', 'name', 'timezone', 'username'].sort(),
    );
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('does not bump version or updatedAt when nothing changes', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await updateMe({ name: before.name, jobTitle: before.jobTitle });
    expect(res.body.data.updateMe.version).toBe(before.version);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('stores the canonical time zone name', async () => {
    const res = await updateMe({ timezone: 'america/new_york' });
    expect(res.body.data.updateMe.timezone).toBe('America/New_York');
    // IANA's current names, whether sent as they are or by an older name (ICU still answers the older).
    for (const [sent, stored] of [
      ['Asia/Kolkata', 'Asia/Kolkata'],
      ['Asia/Calcutta', 'Asia/Kolkata'],
      ['europe/kyiv', 'Europe/Kyiv'],
      ['Europe/Kiev', 'Europe/Kyiv'],
      ['Asia/Ho_Chi_Minh', 'Asia/Ho_Chi_Minh'],
      ['America/Nuuk', 'America/Nuuk'],
      ['Pacific/Kanton', 'Pacific/Kanton'],
      ['America/Argentina/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
      ['US/Pacific', 'America/Los_Angeles'],
    ]) {
      const answer = await updateMe({ timezone: sent });
      expect({ sent, stored: answer.body.data?.updateMe.timezone }).toEqual({ sent, stored });
    }
    // Not IANA zones, though ICU knows them.
    for (const timezone of ['SystemV/EST5', 'systemv/PST8PDT']) {
      const refused = await updateMe({ timezone });
      expect(refused.body.errors?.[0].extensions?.fields).toEqual([
        { field: 'timezone', message: expect.stringMatching(/IANA time zone/) },
      ]);
    }
  });

  it('refuses control characters in names', async () => {
    const res = await updateMe({ name: 'Bad\u0000Name' });
    expect(res.body.errors?.[0].extensions?.fields).toEqual([
      { field: 'name', message: expect.stringMatching(/control/) },
    ]);
  });

  it('counts lengths in characters as the database does: variation selectors count, an emoji is one', async () => {
    // 400 characters to the database, though validator.js's isLength counts 200 of them.
    const selectors = await updateMe({ name: 'a\ufe0f'.repeat(200) });
    expect(selectors.body.errors?.[0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'name', message: 'name must be 1 to 200 characters' }],
    });
    const firstName = await updateMe({ firstName: '\u00e9\ufe0e'.repeat(150) });
    expect(firstName.body.errors?.[0].extensions?.fields).toEqual([
      { field: 'firstName', message: 'firstName must be at most 200 characters' },
    ]);
    // 200 emoji are 200 characters (400 UTF-16 units): taken, in every field with a length.
    const emoji = '\u{1F600}'.repeat(200);
    const taken = await updateMe({ name: emoji, jobTitle: emoji, experiments: ['\u{1F600}'.repeat(100)] });
    expect(taken.body.errors).toBeUndefined();
    expect(taken.body.data.updateMe).toMatchObject({ name: emoji, jobTitle: emoji });
  });

  it('lets a viewer edit their own profile', async () => {
    const res = await updateMe({ name: 'Vera V.' }, app.world.viewerToken);
    expect(res.body.data.updateMe.name).toBe('Vera V.');
  });

  it('has no way to set role, status or metadata', async () => {
    const res = await updateMe({ role: 'ADMIN' });
    expect(res.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0].message).toMatch(/"role" is not defined by type "UpdateMeInput"/);
    expect((await app.stored(app.world.member.id)).role).toBe('member');
  });

  it('refuses a stale expectedVersion with the current version', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await updateMe({ name: 'Stale' }, app.world.memberToken, {
      expectedVersion: before.version - 1,
    });
    expect(res.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      currentVersion: before.version,
    });
    const ok = await updateMe({ name: 'Fresh' }, app.world.memberToken, { expectedVersion: before.version });
    expect(ok.body.data.updateMe.version).toBe(before.version + 1);
  });
});

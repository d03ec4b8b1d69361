import { Role } from '../../src/entities/enums';
import { User } from '../../src/entities/user.entity';
import { appGlobals } from '../support/app-globals';
import { Fixtures, USER_FIELDS, bearer, gql, useApp } from '../support/harness';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $expectedVersion: Int) {
  updateUser(id: $id, input: $input, expectedVersion: $expectedVersion) { ${USER_FIELDS} } }`;

const UPDATE_ME = `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { ${USER_FIELDS} } }`;

describe('updateUser', () => {
  const app = useApp({ world: true });

  const updateUser = (
    id: string,
    input: Record<string, unknown>,
    token = app.world.adminToken,
    extra: Record<string, unknown> = {},
  ) => gql(app.url, UPDATE_USER, { id, input, ...extra }, bearer(token));

  /** A fresh member of the main organization, so tests do not depend on each other's changes. */
  const newMember = (fields: Parameters<Fixtures['user']>[1] = {}) =>
    app.fixtures.user(app.world.orgId, fields);

  const codeOf = (res: { body: { errors?: Array<{ extensions?: Record<string, any> }> } }) =>
    res.body.errors?.[0]?.extensions?.code;

  describe('rights', () => {
    it('lets an admin change role, status, metadata and profile fields of a member', async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const input = {
        role: 'VIEWER',
        status: 'INACTIVE',
        metadata: { plan: 'pro', seats: 3, beta: true },
        name: 'Renamed',
        jobTitle: 'CTO',
        companyName: 'Acme',
        experiments: ['x'],
        projectsSortOrder: 'CREATED_DESC',
        timezone: 'Europe/Berlin',
        username: 'renamed.user',
      };
      const res = await updateUser(target.id, input);
      expect(res.body.errors).toBeUndefined();
      // The answer is the user with every field as sent (GraphQL spells the enums as they were sent).
      expect(res.body.data.updateUser).toMatchObject({
        id: target.id,
        ...input,
        version: before.version + 1,
        organization: { id: app.world.orgId, name: 'Acme' },
      });
      expect(await app.stored(target.id)).toMatchObject({
        role: 'viewer',
        status: 'inactive',
        metadata: { plan: 'pro', seats: 3, beta: true },
        name: 'Renamed',
        usernameLower: 'renamed.user',
        projectsSortOrder: 'created-desc',
        version: before.version + 1,
      });
    });

    it("a member cannot update another member, and the other member's row is unchanged", async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, { name: 'Hijacked' }, app.world.memberToken);
      expect(codeOf(res)).toBe('FORBIDDEN');
      expect(res.body.data).toBeNull();
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('a viewer cannot update another user', async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, { jobTitle: 'x' }, app.world.viewerToken);
      expect(codeOf(res)).toBe('FORBIDDEN');
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('a member can update their own profile fields through updateUser', async () => {
      const self = await newMember();
      const { token } = await app.fixtures.token(self.id);
      const res = await updateUser(self.id, { jobTitle: 'Self-edited' }, token);
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.updateUser.jobTitle).toBe('Self-edited');
    });

    it.each([
      ['role', { role: 'ADMIN' }],
      ['status', { status: 'INACTIVE' }],
      ['metadata', { metadata: { plan: 'free' } }],
    ])(
      'a member cannot change their own %s, even through updateUser on themselves',
      async (_field, input) => {
        const self = await newMember();
        const { token } = await app.fixtures.token(self.id);
        const before = await app.stored(self.id);
        const res = await updateUser(self.id, { ...input, jobTitle: 'sneaky' }, token);
        expect(codeOf(res)).toBe('FORBIDDEN');
        expect(await app.stored(self.id)).toEqual(before);
      },
    );

    it.each([
      ['role', { role: 'MEMBER' }],
      ['status', { status: 'INACTIVE' }],
      ['metadata', { metadata: { plan: 'free' } }],
    ])('a viewer cannot change their own %s', async (_field, input) => {
      const self = await newMember({ role: Role.VIEWER });
      const { token } = await app.fixtures.token(self.id);
      const before = await app.stored(self.id);
      const res = await updateUser(self.id, input, token);
      expect(codeOf(res)).toBe('FORBIDDEN');
      expect(await app.stored(self.id)).toEqual(before);
    });

    it("another organization's user and a nonexistent id give the same NOT_FOUND", async () => {
      const before = await app.stored(app.world.outsider.id);
      const foreign = await updateUser(app.world.outsider.id, { name: 'Taken over' });
      const missing = await updateUser('usr_doesnotexist0000000', { name: 'Taken over' });
      expect(codeOf(foreign)).toBe('NOT_FOUND');
      expect(foreign.body.errors?.[0].message).toBe(missing.body.errors?.[0].message);
      expect(foreign.body.errors?.[0].extensions).toEqual(missing.body.errors?.[0].extensions);
      expect(foreign.status).toBe(missing.status);
      expect(await app.stored(app.world.outsider.id)).toEqual(before);
    });

    it('a member gets the same NOT_FOUND for another organization as for a missing user', async () => {
      const foreign = await updateUser(app.world.outsider.id, { name: 'x' }, app.world.memberToken);
      const missing = await updateUser('usr_doesnotexist0000000', { name: 'x' }, app.world.memberToken);
      expect(codeOf(foreign)).toBe('NOT_FOUND');
      expect(foreign.body.errors?.[0]).toEqual(missing.body.errors?.[0]);
    });
  });

  it('a variable graphql-js refuses (wrong type, unknown value or field, missing) names its field in extensions.fields', async () => {
    const target = await newMember();
    const typed = await updateUser(target.id, { role: 'OWNER', name: 5, jobTitle: true });
    // One error per refused value, each naming its field.
    const refused = typed.body.errors!.map((error) => [error.extensions?.code, error.extensions?.fields]);
    expect(refused.sort((a, b) => a[1][0].field.localeCompare(b[1][0].field))).toEqual([
      ['BAD_USER_INPUT', [{ field: 'jobTitle', message: expect.stringMatching(/^jobTitle: String cannot/) }]],
      ['BAD_USER_INPUT', [{ field: 'name', message: expect.stringMatching(/^name: String cannot/) }]],
      [
        'BAD_USER_INPUT',
        [{ field: 'role', message: expect.stringMatching(/^role: Value "OWNER" does not/) }],
      ],
    ]);
    const unknown = await updateUser(target.id, { shoeSize: 42 });
    expect(unknown.body.errors?.[0].extensions?.fields).toEqual([
      { field: 'shoeSize', message: expect.stringMatching(/^shoeSize: Field "shoeSize" is not defined/) },
    ]);
    const missing = await gql(app.url, UPDATE_USER, { input: {} }, bearer(app.world.adminToken));
    expect(missing.body.errors?.[0].extensions?.fields).toEqual([
      { field: 'id', message: expect.stringMatching(/was not provided/) },
    ]);
    expect((await app.stored(target.id)).version).toBe(1);
  });

  describe('last active admin', () => {
    it('the last active admin cannot be demoted or deactivated, but can once another admin exists', async () => {
      const orgId = await app.fixtures.org('Solo');
      const solo = await app.fixtures.user(orgId, { role: Role.ADMIN });
      const other = await app.fixtures.user(orgId, { role: Role.MEMBER });
      const { token } = await app.fixtures.token(solo.id);
      const before = await app.stored(solo.id);

      for (const input of [{ role: 'MEMBER' }, { role: 'VIEWER' }, { status: 'INACTIVE' }]) {
        const res = await updateUser(solo.id, input, token);
        expect(codeOf(res)).toBe('CONFLICT');
        expect(res.body.errors?.[0].message).toMatch(/last active admin/);
      }
      expect(await app.stored(solo.id)).toEqual(before);

      // An inactive admin does not count as another admin.
      const promoted = await updateUser(other.id, { role: 'ADMIN', status: 'INACTIVE' }, token);
      expect(promoted.body.errors).toBeUndefined();
      expect(codeOf(await updateUser(solo.id, { role: 'MEMBER' }, token))).toBe('CONFLICT');

      const activated = await updateUser(other.id, { status: 'ACTIVE' }, token);
      expect(activated.body.errors).toBeUndefined();
      const demoted = await updateUser(solo.id, { role: 'MEMBER' }, token);
      expect(demoted.body.errors).toBeUndefined();
      expect(demoted.body.data.updateUser.role).toBe('MEMBER');
      expect((await app.stored(solo.id)).role).toBe('member');
    });

    it('the demoted admin has lost the right at once', async () => {
      const orgId = await app.fixtures.org('Pair');
      const first = await app.fixtures.user(orgId, { role: Role.ADMIN });
      const second = await app.fixtures.user(orgId, { role: Role.ADMIN });
      const member = await app.fixtures.user(orgId);
      const firstToken = (await app.fixtures.token(first.id)).token;
      const secondToken = (await app.fixtures.token(second.id)).token;
      expect((await updateUser(first.id, { role: 'MEMBER' }, secondToken)).body.errors).toBeUndefined();
      const res = await updateUser(member.id, { jobTitle: 'x' }, firstToken);
      expect(codeOf(res)).toBe('FORBIDDEN');
      // second is now the last active admin.
      expect(codeOf(await updateUser(second.id, { status: 'INACTIVE' }, secondToken))).toBe('CONFLICT');
    });
  });

  describe('metadata', () => {
    it('merges per key and removes a key set to null', async () => {
      const target = await newMember();
      await updateUser(target.id, { metadata: { a: 'one', b: 2, c: true } });
      const res = await updateUser(target.id, { metadata: { b: null, c: false, d: 'new' } });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.updateUser.metadata).toEqual({ a: 'one', c: false, d: 'new' });
      expect((await app.stored(target.id)).metadata).toEqual({ a: 'one', c: false, d: 'new' });
    });

    it('refuses more than 16 keys in total and stores nothing', async () => {
      const target = await newMember();
      const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i]));
      await updateUser(target.id, { metadata: ten });
      const before = await app.stored(target.id);
      const seven = Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`n${i}`, i]));
      const res = await updateUser(target.id, { metadata: seven, jobTitle: 'should not land' });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0].extensions?.fields).toEqual([
        { field: 'metadata', message: expect.stringMatching(/16/) },
      ]);
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('refuses a single patch of 17 keys', async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
      const res = await updateUser(target.id, { metadata: many });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('allows exactly 16 keys, counting removals in the same patch', async () => {
      const target = await newMember();
      const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i]));
      expect((await updateUser(target.id, { metadata: sixteen })).body.errors).toBeUndefined();
      const res = await updateUser(target.id, { metadata: { k0: null, fresh: 'yes' } });
      expect(res.body.errors).toBeUndefined();
      const stored = (await app.stored(target.id)).metadata;
      expect(Object.keys(stored)).toHaveLength(16);
      expect(stored).toMatchObject({ fresh: 'yes', k15: 15 });
      expect(stored).not.toHaveProperty('k0');
    });

    it.each([
      ['a nested object', { nested: { deep: 1 } }],
      ['an array', { list: [1, 2] }],
      ['a key longer than 40 characters', { ['k'.repeat(41)]: 1 }],
      ['a string longer than 500 characters', { long: 'x'.repeat(501) }],
    ])('refuses %s as a metadata value', async (_what, metadata) => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, { metadata });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0].extensions?.fields?.[0]?.field).toBe('metadata');
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('refuses metadata: null (it is not a nullable field)', async () => {
      const target = await newMember();
      const res = await updateUser(target.id, { metadata: null });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
    });

    it('stores a __proto__ key as a plain key without polluting prototypes', async () => {
      const target = await newMember();
      // JSON.parse keeps "__proto__" as an own key, exactly as the server receives it.
      const metadata = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": "c"}');
      const nested = await updateUser(target.id, { metadata });
      expect(codeOf(nested)).toBe('BAD_USER_INPUT');

      const flat = JSON.parse('{"__proto__": "x", "constructor": "c", "toString": "s", "polluted": 1}');
      const res = await updateUser(target.id, { metadata: flat });
      expect(res.body.errors).toBeUndefined();
      const returned = res.body.data.updateUser.metadata;
      expect(Object.keys(returned).sort()).toEqual(['__proto__', 'constructor', 'polluted', 'toString']);
      expect(Object.getOwnPropertyDescriptor(returned, '__proto__')?.value).toBe('x');

      const stored = (await app.stored(target.id)).metadata;
      expect(Object.hasOwn(stored, '__proto__')).toBe(true);
      expect(Object.getOwnPropertyDescriptor(stored, '__proto__')?.value).toBe('x');
      expect(Object.getPrototypeOf(stored)).toBe(appGlobals.Object.prototype);

      // Removing it works like any other key.
      const removed = await updateUser(target.id, { metadata: JSON.parse('{"__proto__": null}') });
      expect(Object.keys(removed.body.data.updateUser.metadata).sort()).toEqual([
        'constructor',
        'polluted',
        'toString',
      ]);

      expect((appGlobals.Object() as any).polluted).toBeUndefined();
      expect((appGlobals.Object.prototype as any).polluted).toBeUndefined();
      expect(typeof (appGlobals.Object() as any).toString).toBe('function');
      // The server is in this process: its prototypes are the ones checked above, and it still works.
      const me = await gql(app.url, '{ me { id } }', {}, bearer(app.world.adminToken));
      expect(me.body.data.me.id).toBe(app.world.admin.id);
    });

    it('a __proto__ key in a query literal is a plain key too', async () => {
      const target = await newMember();
      const res = await gql(
        app.url,
        `mutation { updateUser(id: "${target.id}", input: { metadata: { __proto__: "lit", polluted: 2 } }) { metadata } }`,
        {},
        bearer(app.world.adminToken),
      );
      expect(res.body.errors).toBeUndefined();
      expect(Object.getOwnPropertyDescriptor(res.body.data.updateUser.metadata, '__proto__')?.value).toBe(
        'lit',
      );
      expect(
        Object.getOwnPropertyDescriptor((await app.stored(target.id)).metadata, '__proto__')?.value,
      ).toBe('lit');
      expect((appGlobals.Object.prototype as any).polluted).toBeUndefined();
    });
  });

  describe('uniqueness', () => {
    it('refuses an email taken in the organization, in any capitalisation', async () => {
      const owner = await newMember({ email: 'Taken.Address@Example.com' });
      const target = await newMember();
      const before = await app.stored(target.id);
      for (const email of ['taken.address@example.com', 'TAKEN.ADDRESS@EXAMPLE.COM']) {
        const res = await updateUser(target.id, { email, jobTitle: 'should not land' });
        expect(res.body.errors?.[0]).toMatchObject({
          message: 'Email already taken',
          extensions: { code: 'CONFLICT', field: 'email' },
        });
      }
      const { token } = await app.fixtures.token(target.id);
      const viaMe = await gql(
        app.url,
        UPDATE_ME,
        { input: { email: 'TAKEN.address@example.COM' } },
        bearer(token),
      );
      expect(viaMe.body.errors?.[0].extensions).toMatchObject({ code: 'CONFLICT', field: 'email' });
      expect(await app.stored(target.id)).toEqual(before);
      expect((await app.stored(owner.id)).email).toBe('Taken.Address@Example.com');
    });

    it('refuses a username taken in the organization, in any capitalisation', async () => {
      await newMember({ username: 'Taken_Name' });
      const target = await newMember();
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, { username: 'taken_NAME' });
      expect(res.body.errors?.[0]).toMatchObject({
        message: 'Username already taken',
        extensions: { code: 'CONFLICT', field: 'username' },
      });
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('lets a user change the capitalisation of their own email and username', async () => {
      const target = await newMember({ email: 'mixed.case@example.com', username: 'mixed' });
      const res = await updateUser(target.id, { email: 'Mixed.Case@example.com', username: 'MIXED' });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.updateUser).toMatchObject({ email: 'Mixed.Case@example.com', username: 'MIXED' });
    });

    it('allows the same email and username in another organization', async () => {
      const outsider = await app.stored(app.world.outsider.id);
      const target = await newMember();
      const res = await updateUser(target.id, { email: outsider.email.toUpperCase(), username: 'olga' });
      expect(res.body.errors).toBeUndefined();
      await updateUser(app.world.outsider.id, { username: 'OLGA' }, app.world.outsiderToken);
      expect((await app.stored(app.world.outsider.id)).username).toBe('OLGA');
    });

    it('resets emailVerified only when the address really changes', async () => {
      const target = await newMember({ email: 'verified@example.com' });
      const verify = () =>
        app.server.services.db.write((m) =>
          m.getRepository(User).update({ id: target.id }, { emailVerified: true }),
        );
      await verify();
      const sameAddress = await updateUser(target.id, { email: 'Verified@Example.com' });
      expect(sameAddress.body.data.updateUser).toMatchObject({
        email: 'Verified@Example.com',
        emailVerified: true,
      });
      const unchanged = await updateUser(target.id, { email: 'Verified@Example.com', jobTitle: 'x' });
      expect(unchanged.body.data.updateUser.emailVerified).toBe(true);
      const newAddress = await updateUser(target.id, { email: 'another@example.com' });
      expect(newAddress.body.data.updateUser).toMatchObject({
        email: 'another@example.com',
        emailVerified: false,
      });
      expect((await app.stored(target.id)).emailVerified).toBe(false);
    });
  });

  describe('versions and partial semantics', () => {
    it('honours expectedVersion', async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const stale = await updateUser(target.id, { name: 'Stale' }, app.world.adminToken, {
        expectedVersion: before.version + 5,
      });
      expect(stale.body.errors?.[0].extensions).toMatchObject({
        code: 'CONFLICT',
        currentVersion: before.version,
      });
      expect(await app.stored(target.id)).toEqual(before);
      const ok = await updateUser(target.id, { name: 'Fresh' }, app.world.adminToken, {
        expectedVersion: before.version,
      });
      expect(ok.body.data.updateUser).toMatchObject({ name: 'Fresh', version: before.version + 1 });
      const again = await updateUser(target.id, { name: 'Again' }, app.world.adminToken, {
        expectedVersion: before.version,
      });
      expect(codeOf(again)).toBe('CONFLICT');
    });

    /** The row `before` as it must be once only its job title was set: one version on, at `after`'s update time. */
    const jobTitleChanged = (before: User, after: User, jobTitle: string) => ({
      ...before,
      jobTitle,
      version: before.version + 1,
      updatedAt: after.updatedAt,
    });

    it('an input with only jobTitle leaves every other column exactly as it was', async () => {
      const target = await newMember({ username: 'full.profile' });
      const filled = await updateUser(target.id, {
        firstName: 'Fiona',
        lastName: 'Full',
        jobTitle: 'Before',
        companyName: 'Co',
        experiments: ['e1', 'e2'],
        projectsSortOrder: 'NAME_DESC',
        timezone: 'Asia/Tokyo',
        metadata: { keep: 'me' },
        role: 'VIEWER',
      });
      expect(filled.body.errors).toBeUndefined();
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, { jobTitle: 'After' });
      expect(res.body.errors).toBeUndefined();
      const after = await app.stored(target.id);
      expect(after).toEqual(jobTitleChanged(before, after, 'After'));
      expect(after.updatedAt > before.updatedAt).toBe(true);

      // The same through a literal in the query text rather than variables.
      const literal = await gql(
        app.url,
        `mutation { updateUser(id: "${target.id}", input: { jobTitle: "Literal" }) { version } }`,
        {},
        bearer(app.world.adminToken),
      );
      expect(literal.body.errors).toBeUndefined();
      const last = await app.stored(target.id);
      expect(last).toEqual(jobTitleChanged(after, last, 'Literal'));
    });

    it('a refused request changes nothing, even when its other fields are valid', async () => {
      const target = await newMember();
      const before = await app.stored(target.id);
      const refusals = [
        updateUser(target.id, { name: null, jobTitle: 'valid' }),
        updateUser(target.id, { role: null }),
        updateUser(target.id, { status: null }),
        updateUser(target.id, { email: 'bad', jobTitle: 'valid' }),
        updateUser(target.id, { metadata: { x: { y: 1 } }, jobTitle: 'valid' }),
        updateUser(target.id, { jobTitle: 'valid' }, app.world.memberToken),
        updateUser(target.id, { jobTitle: 'valid', creditsBalance: 100 }),
      ];
      for (const res of await Promise.all(refusals)) {
        expect(res.body.errors?.length).toBeGreaterThan(0);
        expect(res.body.data ?? null).toBeNull();
      }
      expect(await app.stored(target.id)).toEqual(before);
    });

    it('reports every invalid field at once', async () => {
      const target = await newMember();
      const res = await updateUser(target.id, {
        name: '',
        email: 'nope',
        timezone: 'Nowhere/City',
        metadata: { bad: [1] },
        role: null,
      });
      expect(codeOf(res)).toBe('BAD_USER_INPUT');
      expect(res.body.errors?.[0].extensions?.fields.map((f: any) => f.field).sort()).toEqual(
        ['email', 'metadata', 'name', 'role', 'timezone'].sort(),
      );
    });

    it('an update that changes nothing keeps version and updatedAt', async () => {
      const target = await newMember();
      await updateUser(target.id, { metadata: { a: 1 }, role: 'VIEWER' });
      const before = await app.stored(target.id);
      const res = await updateUser(target.id, {
        metadata: { a: 1, gone: null },
        role: 'VIEWER',
        name: before.name,
      });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.updateUser.version).toBe(before.version);
      expect(await app.stored(target.id)).toEqual(before);
    });
  });
});

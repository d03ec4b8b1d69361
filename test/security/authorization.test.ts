import crypto from 'node:crypto';
import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { bearer, gql, useApp } from '../support/harness';
import { send, type RestResponse } from '../rest/rest-support';
import {
  credentialsFor,
  expectErrorShape,
  messageOf,
  restTargets,
  type Credentials,
  type EndpointId,
} from './security-support';

const USER_QUERY = `query ($id: ID!) { user(id: $id) { id name } }`;
const BY_NUMERIC_ID = `query ($n: Int!) { userByNumericId(numericId: $n) { id name } }`;
const CHANGES = `query ($id: ID!) { userChanges(userId: $id) { nodes { id } } }`;
const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id role status metadata } }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id role } }`;

/** What a response shows a client: status and body (the request id header aside). */
const visible = (res: RestResponse) => ({ status: res.status, body: res.body });

describe('authorization', () => {
  let admin: Credentials;
  let member: Credentials;
  let missing: { id: string; numericId: number };

  const app = useApp({ world: true });

  beforeAll(async () => {
    admin = await credentialsFor(app.fixtures, app.world.admin);
    member = await credentialsFor(app.fixtures, app.world.member);
    missing = { id: `usr_${crypto.randomBytes(16).toString('base64url')}`, numericId: 2_000_000_000 };
  });

  /** Snapshots every user of the world, so a test can assert that nothing at all was written. */
  const snapshot = async () =>
    Promise.all(
      [app.world.admin, app.world.member, app.world.viewer, app.world.outsider].map((u) => app.stored(u.id)),
    );

  describe("another organization's user is indistinguishable from a missing one", () => {
    const callers = () =>
      [
        ['an admin', admin, app.world.admin],
        ['a member', member, app.world.member],
      ] as const;

    it('on /graphql: user, userByNumericId, userChanges and updateUser answer alike', async () => {
      for (const [, credentials, caller] of callers()) {
        const headers = bearer(credentials.pat);
        // And what a missing user gets: no user from a read, NOT_FOUND from the others (a member may read
        // only their own history: FORBIDDEN for anyone else's, whether they exist or not).
        const notFound = { data: null, code: 'NOT_FOUND' };
        const history = { data: null, code: caller.role === Role.ADMIN ? 'NOT_FOUND' : 'FORBIDDEN' };
        const pairs = [
          [
            USER_QUERY,
            { id: app.world.outsider.id },
            { id: missing.id },
            { data: { user: null }, code: null },
          ],
          [
            BY_NUMERIC_ID,
            { n: app.world.outsider.numericId },
            { n: missing.numericId },
            { data: { userByNumericId: null }, code: null },
          ],
          [CHANGES, { id: app.world.outsider.id }, { id: missing.id }, history],
          [
            UPDATE_USER,
            { id: app.world.outsider.id, input: { name: 'Taken over' } },
            { id: missing.id, input: { name: 'Taken over' } },
            notFound,
          ],
          [
            UPDATE_USER,
            { id: app.world.outsider.id, input: { role: 'VIEWER' } },
            { id: missing.id, input: { role: 'VIEWER' } },
            notFound,
          ],
        ] as const;
        for (const [query, foreign, absent, expected] of pairs) {
          const a = await gql(app.url, query, foreign, headers);
          const b = await gql(app.url, query, absent, headers);
          expect(visible(a)).toEqual(visible(b));
          const operation = `${caller.role} ${query.slice(0, 40)} ${JSON.stringify(absent)}`;
          expect({
            operation,
            status: b.status,
            data: b.body.data ?? null,
            code: b.body.errors?.[0]?.extensions?.code ?? null,
          }).toEqual({ operation, status: 200, ...expected });
          expect(JSON.stringify(a.body)).not.toContain(app.world.outsider.name);
        }
      }
    });

    const byIdEndpoints = (
      credentials: Credentials,
      caller: User,
      target: { id: string; numericId: number },
    ) => restTargets(credentials, caller, target as User).filter((t) => ['002', '003', '004'].includes(t.id));

    it('on 002, 003 and 004: GET and write answer with the same status and the same body', async () => {
      const before = await snapshot();
      for (const [, credentials, caller] of callers()) {
        const foreign = byIdEndpoints(credentials, caller, app.world.outsider);
        const absent = byIdEndpoints(credentials, caller, missing);
        for (let i = 0; i < foreign.length; i++) {
          const f = foreign[i];
          const a = absent[i];
          const getF = await send(app.url, 'GET', f.path, { headers: f.headers });
          const getA = await send(app.url, 'GET', a.path, { headers: a.headers });
          expectErrorShape(f.id, getF, 404);
          expect([f.id, visible(getF)]).toEqual([f.id, visible(getA)]);
          const writeF = await send(app.url, f.method, f.path, { headers: f.headers, json: f.valid });
          const writeA = await send(app.url, a.method, a.path, { headers: a.headers, json: a.valid });
          expectErrorShape(f.id, writeF, 404);
          expect([f.id, visible(writeF)]).toEqual([f.id, visible(writeA)]);
          // No version leaks through an ETag either.
          expect(writeF.headers.get('etag')).toBe(writeA.headers.get('etag'));
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it('also with fields only an admin may send, and with read-only fields on 004', async () => {
      const before = await snapshot();
      const bodies: Record<string, Array<Record<string, unknown>>> = {
        '002': [{ role: 'viewer' }, { email: 'stolen@example.com' }],
        '003': [{ name: 'x', timezone: 'Europe/Paris' }],
        '004': [
          { role: 'viewer' },
          { metadata: { a: 1 } },
          { id: 'usr_other' },
          { createdAt: '2000-01-01T00:00:00Z' },
        ],
      };
      for (const [, credentials, caller] of callers()) {
        const foreign = byIdEndpoints(credentials, caller, app.world.outsider);
        const absent = byIdEndpoints(credentials, caller, missing);
        for (let i = 0; i < foreign.length; i++) {
          for (const json of bodies[foreign[i].id]) {
            const a = await send(app.url, foreign[i].method, foreign[i].path, {
              headers: foreign[i].headers,
              json,
            });
            const b = await send(app.url, absent[i].method, absent[i].path, {
              headers: absent[i].headers,
              json,
            });
            expect([foreign[i].id, json, visible(a)]).toEqual([foreign[i].id, json, visible(b)]);
            // Whatever the body, the missing user is not found.
            expectErrorShape(foreign[i].id, b, 404);
          }
        }
      }
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('mass assignment: server-owned fields can never be set', () => {
    const protectedValues = () => ({
      id: 'usr_hijacked00000000000000',
      numericId: 1,
      uuid: crypto.randomUUID(),
      createdAt: '2000-01-01T00:00:00.000Z',
      updatedAt: '2000-01-01T00:00:00.000Z',
      organization: { id: app.world.otherOrgId },
      organizationId: app.world.otherOrgId,
      creditsBalance: 1_000_000,
      version: 999,
      emailVerified: true,
    });
    const snake: Record<string, string> = {
      numericId: 'numeric_id',
      createdAt: 'created_at',
      updatedAt: 'updated_at',
      organizationId: 'organization_id',
      creditsBalance: 'credits_balance',
      emailVerified: 'email_verified',
    };
    /** Each endpoint's own spelling of the protected fields (002 and 001 speak snake_case), plus the other one. */
    const spellings = (id: EndpointId): Array<[string, unknown]> => {
      const values = protectedValues();
      const camel = Object.entries(values);
      const snakeCase = camel.map(([k, v]) => [snake[k] ?? k, v] as [string, unknown]);
      const own = id === '001' || id === '002' ? snakeCase : camel;
      const other = id === '001' || id === '002' ? camel : snakeCase;
      return [...own, ...other.filter(([k]) => !own.some(([o]) => o === k))];
    };

    it('GraphQL refuses every server-owned field in updateMe and updateUser, as a variable or a literal', async () => {
      const before = await snapshot();
      for (const [field, value] of Object.entries(protectedValues())) {
        for (const [query, variables] of [
          [UPDATE_ME, { input: { name: 'Ada Admin', [field]: value } }],
          [UPDATE_USER, { id: app.world.admin.id, input: { name: 'Ada Admin', [field]: value } }],
          [UPDATE_USER, { id: app.world.member.id, input: { [field]: value } }],
        ] as const) {
          const res = await gql(app.url, query, variables, bearer(admin.pat));
          expect([field, res.body.errors?.[0].extensions?.code]).toEqual([field, 'BAD_USER_INPUT']);
          // The field by its name as a word ("id" is also the end of "invalid").
          expect(res.body.errors?.[0].message).toMatch(new RegExp(`\\b${field}\\b`));
          expect(res.body.data ?? null).toBeNull();
        }
        const literal = `mutation { updateUser(id: "${app.world.member.id}", input: { ${field}: ${JSON.stringify(
          value,
        ).replace(/"(\w+)":/g, '$1:')} }) { id } }`;
        const res = await gql(app.url, literal, {}, bearer(admin.pat));
        expect([field, res.status, res.body.errors?.[0].extensions?.code]).toEqual([
          field,
          400,
          'GRAPHQL_VALIDATION_FAILED',
        ]);
      }
      expect(await snapshot()).toEqual(before);
    });

    it.each(['000', '001', '002', '003', '004'] as const)(
      'REST %s refuses every server-owned field in its own spelling, naming it, and stores nothing',
      async (id) => {
        const before = await snapshot();
        const self = restTargets(admin, app.world.admin).find((t) => t.id === id)!;
        const other = restTargets(admin, app.world.admin, app.world.member).find((t) => t.id === id)!;
        for (const target of id === '000' || id === '001' ? [self] : [self, other]) {
          for (const [field, value] of spellings(id)) {
            const res = await send(app.url, target.method, target.path, {
              headers: target.headers,
              json: { ...target.valid, [field]: value },
            });
            expectErrorShape(id, res, 400);
            expect([field, messageOf(res.body) + JSON.stringify(res.body)]).toEqual([
              field,
              expect.stringContaining(field),
            ]);
          }
        }
        expect(await snapshot()).toEqual(before);
      },
    );

    it('004 accepts read-only fields only when they repeat the stored value (a GET body written back)', async () => {
      const target = restTargets(admin, app.world.admin, app.world.member).find((t) => t.id === '004')!;
      const current = await send(app.url, 'GET', target.path, { headers: target.headers });
      expect(current.status).toBe(200);
      const before = await app.stored(app.world.member.id);
      const res = await send(app.url, 'PATCH', target.path, {
        headers: target.headers,
        json: current.body,
      });
      expect(res.status).toBe(200);
      const after = await app.stored(app.world.member.id);
      expect({ id: after.id, createdAt: after.createdAt, numericId: after.numericId }).toEqual({
        id: before.id,
        createdAt: before.createdAt,
        numericId: before.numericId,
      });
    });
  });

  describe('role, status and metadata: admins only', () => {
    /** Member and viewer: each with every credential kind. */
    const nonAdmins = async () => [
      { who: 'member', user: app.world.member, credentials: member },
      {
        who: 'viewer',
        user: app.world.viewer,
        credentials: await credentialsFor(app.fixtures, app.world.viewer),
      },
    ];

    it('a member or viewer cannot raise their own role, status or metadata through GraphQL', async () => {
      const before = await snapshot();
      for (const { user, credentials } of await nonAdmins()) {
        for (const token of [credentials.pat, credentials.apiKey, credentials.jwt]) {
          for (const input of [
            { role: 'ADMIN' },
            { role: 'MEMBER' },
            { status: 'ACTIVE' },
            { metadata: { plan: 'enterprise' } },
            { name: 'Harmless', role: 'ADMIN' },
          ]) {
            const res = await gql(app.url, UPDATE_USER, { id: user.id, input }, bearer(token));
            expect([input, res.body.errors?.[0].extensions?.code]).toEqual([input, 'FORBIDDEN']);
            expect(res.body.data ?? null).toBeNull();
          }
          // updateMe has no such fields at all.
          const res = await gql(app.url, UPDATE_ME, { input: { role: 'ADMIN' } }, bearer(token));
          expect(res.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
          // Nor can several mutations in one document slip one through.
          const batch = await gql(
            app.url,
            `mutation ($id: ID!) {
              a: updateMe(input: { jobTitle: "x" }) { id }
              b: updateUser(id: $id, input: { role: ADMIN }) { id role }
            }`,
            { id: user.id },
            bearer(token),
          );
          expect(batch.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
        }
      }
      const after = await snapshot();
      expect(after.map((u) => [u.id, u.role, u.status, u.metadata])).toEqual(
        before.map((u) => [u.id, u.role, u.status, u.metadata]),
      );
    });

    it('a member or viewer cannot raise their own role through REST 002 or 004, whatever the spelling', async () => {
      const before = await snapshot();
      for (const { user, credentials } of await nonAdmins()) {
        const targets = restTargets(credentials, user);
        const t002 = targets.find((t) => t.id === '002')!;
        const t004 = targets.find((t) => t.id === '004')!;
        for (const contentType of ['application/json', 'application/merge-patch+json']) {
          for (const [target, raw, status] of [
            [t002, '{"role":"admin"}', 403],
            [t002, '{"first_name":"x","role":"member","role":"admin"}', 403],
            [t002, '{"role":"ADMIN"}', 400],
            [t002, '{"Role":"admin"}', 400],
            [t004, '{"role":"admin"}', 403],
            [t004, '{"role":"viewer"}', 403],
            [t004, '{"metadata":{"plan":"enterprise"}}', 403],
            [t004, '{"name":"x","role":"admin"}', 403],
            [t004, '{"status":"ACTIVE"}', 400],
            [t004, '{"role ":"admin"}', 400],
          ] as const) {
            const res = await send(app.url, target.method, target.path, {
              headers: { ...target.headers, 'content-type': contentType },
              raw,
            });
            expect([target.id, raw, res.status]).toEqual([target.id, raw, status]);
            expectErrorShape(target.id, res, status);
          }
        }
        // The other endpoints have no role field at all.
        for (const target of targets.filter((t) => ['000', '001', '003'].includes(t.id))) {
          for (const extra of [{ role: 'admin' }, { status: 'ACTIVE' }, { metadata: { a: 1 } }]) {
            const res = await send(app.url, target.method, target.path, {
              headers: target.headers,
              json: { ...target.valid, ...extra },
            });
            expectErrorShape(target.id, res, 400);
          }
        }
      }
      const after = await snapshot();
      expect(after).toEqual(before);
    });

    /** `caller` asks 002, 004 and updateUser to change `target`'s role: each is refused with `status` and `code`. */
    const expectRoleChangeRefused = async (
      credentials: Credentials,
      caller: User,
      target: User,
      refusal: { status: number; code: string },
    ) => {
      for (const t of restTargets(credentials, caller, target).filter(
        (t) => t.id === '002' || t.id === '004',
      )) {
        const res = await send(app.url, t.method, t.path, { headers: t.headers, json: { role: 'viewer' } });
        expectErrorShape(t.id, res, refusal.status);
      }
      const res = await gql(
        app.url,
        UPDATE_USER,
        { id: target.id, input: { role: 'ADMIN' } },
        bearer(credentials.pat),
      );
      expect(res.body.errors?.[0].extensions?.code).toBe(refusal.code);
    };

    it("a member cannot change another user's role, and nobody outside the organization can", async () => {
      const before = await snapshot();
      await expectRoleChangeRefused(member, app.world.member, app.world.admin, {
        status: 403,
        code: 'FORBIDDEN',
      });
      await expectRoleChangeRefused(member, app.world.member, app.world.viewer, {
        status: 403,
        code: 'FORBIDDEN',
      });
      // An admin of another organization: this organization's users are not found by them, anywhere.
      const outsider = await credentialsFor(app.fixtures, app.world.outsider);
      await expectRoleChangeRefused(outsider, app.world.outsider, app.world.viewer, {
        status: 404,
        code: 'NOT_FOUND',
      });
      expect(await snapshot()).toEqual(before);
    });

    it('an admin can change roles, status and metadata (so the refusals above are about rights)', async () => {
      const target = restTargets(admin, app.world.admin, app.world.viewer).find((t) => t.id === '004')!;
      const promoted = await send(app.url, 'PATCH', target.path, {
        headers: target.headers,
        json: { role: 'member', metadata: { checked: true } },
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({ role: 'member', metadata: { checked: true } });
      const res = await gql(
        app.url,
        UPDATE_USER,
        { id: app.world.viewer.id, input: { role: 'VIEWER', status: 'ACTIVE', metadata: { checked: null } } },
        bearer(admin.pat),
      );
      expect(res.body.data.updateUser).toMatchObject({ role: 'VIEWER', status: 'ACTIVE', metadata: {} });
    });

    it('a read-scoped admin credential cannot change roles either', async () => {
      const readOnly = (
        await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY, { scopes: ['read'] })
      ).token;
      const before = await snapshot();
      const res = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
        headers: bearer(readOnly),
        json: { role: 'admin' },
      });
      expectErrorShape('002', res, 403);
      expect(await snapshot()).toEqual(before);
    });
  });
});

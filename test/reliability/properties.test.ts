import fc from 'fast-check';
import { CredentialKind, Role, UserStatus } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import { User } from '../../src/entities/user.entity';
import { apiKeyHeader, bearer, jwtHeader, send } from '../rest/rest-support';
import { gql, useApp } from '../support/harness';

/** The kinds of request a random sequence is made of: the two mutations and the five endpoints. */
const KINDS = ['updateUser', 'updateMe', 'rest004', 'rest002', 'rest003', 'rest000', 'rest001'] as const;
type Kind = (typeof KINDS)[number];

/** A patch in neutral terms; each kind sends the part its endpoint takes (and sometimes more, to be refused). */
interface Patch {
  name?: string | null;
  email?: string;
  role?: Role;
  status?: UserStatus;
  jobTitle?: string | null;
  firstName?: string | null;
  metadata?: Record<string, string | number | boolean | null>;
}

interface Op {
  kind: Kind;
  actor: number;
  target: number;
  patch: Patch;
  /** updateMe also sends role, status and metadata, which its input type does not have. */
  stray: boolean;
}

/** A small pool of addresses, in several capitalisations, so that sequences collide on purpose. */
const EMAILS = ['a@pool.test', 'A@Pool.test', 'b@pool.test', 'B@POOL.TEST', 'c@pool.test', 'not-an-email'];
const METADATA_KEYS = Array.from({ length: 20 }, (_, i) => `k${i}`);

const patchArb: fc.Arbitrary<Patch> = fc.record(
  {
    name: fc.oneof(
      { arbitrary: fc.constantFrom<string | null>('Ann', 'Bob', 'Cy'), weight: 4 },
      { arbitrary: fc.constantFrom<string | null>('', null, 'x'.repeat(201)), weight: 1 },
    ),
    email: fc.oneof(
      { arbitrary: fc.constantFrom(...EMAILS.slice(0, -1)), weight: 6 },
      { arbitrary: fc.constant(EMAILS[EMAILS.length - 1]), weight: 1 },
    ),
    role: fc.constantFrom(Role.ADMIN, Role.MEMBER, Role.VIEWER),
    status: fc.constantFrom(UserStatus.ACTIVE, UserStatus.INACTIVE),
    jobTitle: fc.constantFrom<string | null>('Dev', 'Lead', null),
    firstName: fc.constantFrom<string | null>('Fay', 'Gus', null),
    metadata: fc.dictionary(
      fc.constantFrom(...METADATA_KEYS),
      fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 9 }), fc.constantFrom('v', 'w'), fc.boolean()),
      { maxKeys: 8 },
    ),
  },
  { requiredKeys: [] },
);

/** Which of the users below act and are acted on (index 5 is in another organization). */
const opArb = (users: number): fc.Arbitrary<Op> =>
  fc.record({
    kind: fc.constantFrom(...KINDS),
    actor: fc.nat({ max: users - 1 }),
    target: fc.nat({ max: users - 1 }),
    patch: patchArb,
    stray: fc.nat({ max: 4 }).map((n) => n === 0),
  });

const IMMUTABLE = ['id', 'uuid', 'numericId', 'organizationId', 'createdAt'] as const;

describe('properties of random sequences of updates through GraphQL and REST', () => {
  const people: Array<{ user: User; pat: string; key: string; jwt: string }> = [];
  let initial: Map<string, User>;

  const app = useApp();

  beforeAll(async () => {
    const orgId = await app.fixtures.org('Random');
    const otherOrgId = await app.fixtures.org('Elsewhere');
    const layout: Array<[string, Role]> = [
      [orgId, Role.ADMIN],
      [orgId, Role.ADMIN],
      [orgId, Role.MEMBER],
      [orgId, Role.MEMBER],
      [orgId, Role.VIEWER],
      [otherOrgId, Role.ADMIN],
    ];
    for (const [org, role] of layout) {
      const user = await app.fixtures.user(org, { role });
      people.push({
        user,
        pat: (await app.fixtures.token(user.id)).token,
        key: (await app.fixtures.token(user.id, CredentialKind.API_KEY)).token,
        jwt: (await app.fixtures.token(user.id, CredentialKind.JWT)).token,
      });
    }
    initial = await snapshot();
  });

  const snapshot = async () =>
    new Map(
      (await app.server.services.db.read((m) => m.getRepository(User).find())).map(
        (row) => [row.id, row] as const,
      ),
    );

  /** Puts every user back as it was created, so that each run (and each shrink) starts the same. */
  const reset = () =>
    app.server.services.db.write(async (m) => {
      const repository = m.getRepository(User);
      for (const { user } of people) {
        await repository.update(
          { id: user.id },
          { email: `reset-${user.id}@x.test`, emailLower: `reset-${user.id}@x.test` },
        );
      }
      for (const { user } of people) {
        const start = initial.get(user.id)!;
        await repository.update(
          { id: user.id },
          {
            name: start.name,
            email: start.email,
            emailLower: start.emailLower,
            role: start.role,
            status: start.status,
            jobTitle: start.jobTitle,
            firstName: start.firstName,
            metadata: start.metadata,
          },
        );
      }
    });

  let requestCounter = 0;

  /** Sends one op; true when it was carried out, false when it was refused. */
  const run = async (op: Op, requestId: string): Promise<boolean> => {
    const actor = people[op.actor];
    const target = people[op.target].user;
    const p = op.patch;
    const rid = { 'x-request-id': requestId };
    // Role and status values are the REST spelling (lower case); GraphQL takes the enum names.
    const upper = (value?: string) => value?.toUpperCase();
    const defined = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
    switch (op.kind) {
      case 'updateUser':
      case 'updateMe': {
        const input = defined({
          name: p.name,
          email: p.email,
          jobTitle: p.jobTitle,
          firstName: p.firstName,
          // updateMe has no role, status or metadata: sending them must be refused too.
          ...(op.kind === 'updateUser' || op.stray
            ? { role: upper(p.role), status: upper(p.status), metadata: p.metadata }
            : {}),
        });
        const res =
          op.kind === 'updateUser'
            ? await gql(
                app.url,
                `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }`,
                { id: target.id, input },
                { ...bearer(actor.pat), ...rid },
              )
            : await gql(
                app.url,
                `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }`,
                { input },
                { ...bearer(actor.pat), ...rid },
              );
        expect(res.status).toBeLessThan(500);
        expect((res.body.errors ?? []).map((e) => e.extensions?.code)).not.toContain('INTERNAL_SERVER_ERROR');
        return res.status === 200 && !res.body.errors;
      }
      case 'rest004':
        return ok(
          await send(app.url, 'PATCH', `/api/v1/users/${target.id}`, {
            headers: { ...bearer(actor.pat), ...rid },
            json: defined({
              name: p.name,
              email: p.email,
              role: p.role,
              metadata: p.metadata,
            }),
          }),
        );
      case 'rest002':
        return ok(
          await send(app.url, 'PATCH', `/v1/users/${target.id}`, {
            headers: { ...bearer(actor.key), ...rid },
            json: defined({
              email: p.email,
              first_name: p.firstName,
              role: p.role,
            }),
          }),
        );
      case 'rest003':
        return ok(
          await send(app.url, 'POST', `/v1/api/users/${target.numericId}`, {
            headers: { ...jwtHeader(actor.jwt), ...rid },
            json: defined({ name: p.name, jobTitle: p.jobTitle }),
          }),
        );
      case 'rest000':
        return ok(
          await send(app.url, 'PUT', '/v2/user', {
            headers: { ...bearer(actor.pat), ...rid },
            json: defined({ name: p.name }),
          }),
        );
      case 'rest001':
        return ok(
          await send(app.url, 'PATCH', '/v1/users/me', {
            headers: { ...apiKeyHeader(actor.key), ...rid },
            json: defined({ name: p.name }),
          }),
        );
    }
  };

  const ok = (res: { status: number }) => {
    expect(res.status).toBeLessThan(500);
    return res.status === 200;
  };

  /** The users an op may change: the target, or the actor for the self-service kinds. */
  const changeable = (op: Op) =>
    op.kind === 'updateMe' || op.kind === 'rest000' || op.kind === 'rest001'
      ? people[op.actor].user.id
      : people[op.target].user.id;

  const checkInvariants = (rows: Map<string, User>) => {
    const emails = new Set<string>();
    for (const row of rows.values()) {
      const unique = `${row.organizationId} ${row.email.toLowerCase()}`;
      expect(emails.has(unique)).toBe(false);
      emails.add(unique);
      expect(row.emailLower).toBe(row.email.toLowerCase());
      expect(Object.keys(row.metadata).length).toBeLessThanOrEqual(16);
      const start = initial.get(row.id)!;
      for (const field of IMMUTABLE) expect(row[field]).toEqual(start[field]);
    }
  };

  it('keep emails unique per organization, metadata within 16 keys, ids fixed, roles in admin hands, refusals without effect', async () => {
    let refused = 0;
    let carried = 0;
    let roleChanges = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(people.length), { minLength: 1, maxLength: 15 }), async (ops) => {
        await reset();
        /** The role each request's actor had when it was sent, by request id. */
        const actorRoles = new Map<string, { role: Role; status: UserStatus }>();
        const firstRequest = requestCounter + 1;
        let before = await snapshot();
        for (const op of ops) {
          const requestId = `prop-${++requestCounter}`;
          const actorRow = before.get(people[op.actor].user.id)!;
          actorRoles.set(requestId, { role: actorRow.role, status: actorRow.status });
          const done = await run(op, requestId);
          const after = await snapshot();
          checkInvariants(after);
          if (!done) {
            refused += 1;
            // A refused request changes nothing at all.
            expect(after).toEqual(before);
          } else {
            carried += 1;
            const changed = changeable(op);
            for (const [id, row] of after) if (id !== changed) expect(row).toEqual(before.get(id));
            const was = before.get(changed)!;
            const now = after.get(changed)!;
            if (now.role !== was.role) roleChanges += 1;
            if (now.role !== was.role || now.status !== was.status || !sameKeys(now.metadata, was.metadata)) {
              expect(actorRow).toMatchObject({ role: Role.ADMIN, status: UserStatus.ACTIVE });
            }
            // Only an active admin of the same organization may have acted on someone else.
            if (changed !== actorRow.id) {
              expect(actorRow).toMatchObject({
                role: Role.ADMIN,
                status: UserStatus.ACTIVE,
                organizationId: now.organizationId,
              });
            }
          }
          before = after;
        }
        // The history agrees: every recorded role change was made by an active admin.
        const history = await app.server.services.db.read((m) => m.getRepository(UserChange).find());
        for (const change of history) {
          const seq = Number(/^prop-(\d+)$/.exec(change.requestId)?.[1]);
          if (!(seq >= firstRequest) || !change.changedFields.includes('role')) continue;
          expect(actorRoles.get(change.requestId)).toEqual({ role: Role.ADMIN, status: UserStatus.ACTIVE });
          expect(history.filter((c) => c.requestId === change.requestId)).toHaveLength(1);
        }
      }),
      { numRuns: 25 },
    );
    console.log(
      `properties: ${carried} requests carried out (${roleChanges} role changes), ${refused} refused`,
    );
    // The generators must exercise both outcomes for the properties to mean anything.
    expect(refused).toBeGreaterThan(10);
    expect(carried).toBeGreaterThan(10);
  });
});

function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

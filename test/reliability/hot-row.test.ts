import { Role, UserStatus } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import { User } from '../../src/entities/user.entity';
import { usingPostgres } from '../support/database';
import { bearer, useApp, useOrgAdmin } from '../support/harness';

const RETURNED = 'id email jobTitle role metadata version';
const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $v: Int) {
  updateUser(id: $id, input: $input, expectedVersion: $v) { ${RETURNED} } }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!, $v: Int) {
  updateMe(input: $input, expectedVersion: $v) { ${RETURNED} } }`;

const WRITERS = 64;
/** The fields the writers here change: their history chains and final values are checked. */
const TRACKED = ['email', 'jobTitle', 'role', 'metadata'] as const;

/** One of the writers sent together: who writes which user, with what. */
interface Write {
  requestId: string;
  callerId: string;
  token: string;
  userId: string;
  input: Record<string, unknown>;
  expectedVersion?: number;
  /** Sent as updateMe (the caller's own record) rather than updateUser. */
  me?: boolean;
}

/** A writer's answer: the user it returned when acknowledged, or the refusal's code and extensions. */
interface Outcome {
  write: Write;
  user?: Pick<User, 'id' | (typeof TRACKED)[number] | 'version'>;
  code?: string;
  extensions?: Record<string, any>;
}

/** A user as stored before the writers start, and how many history rows it had then. */
interface Snapshot {
  user: User;
  seen: number;
}

const pick = (values: object) =>
  Object.fromEntries(TRACKED.map((f) => [f, (values as Record<string, unknown>)[f]]));

/**
 * One user row written by 64 concurrent HTTP writers, some refused: every acknowledged write lands
 * exactly once, in version order, with its history, and nothing refused lands, whatever the write path
 * does with writes that arrive together (take turns, batch them, share one statement).
 */
describe('a hot row under 64 concurrent writers', () => {
  const app = useApp();
  const org = useOrgAdmin(app, 'Hot row');

  const historyOf = (userId: string) =>
    app.server.services.db.read((m) =>
      m.getRepository(UserChange).find({ where: { userId }, order: { seq: 'ASC' } }),
    );
  const snapshot = async (userId: string): Promise<Snapshot> => ({
    user: await app.stored(userId),
    seen: (await historyOf(userId)).length,
  });

  /** Sends every write at once over HTTP, each with its own X-Request-Id (which its history row keeps). */
  const fire = (writes: Write[]): Promise<Outcome[]> =>
    Promise.all(
      writes.map(async (write) => {
        const { me, userId, input, expectedVersion: v } = write;
        const answer = await app.gql(
          me ? UPDATE_ME : UPDATE_USER,
          me ? { input, v } : { id: userId, input, v },
          { ...bearer(write.token), 'x-request-id': write.requestId },
        );
        const error = answer.body.errors?.[0];
        if (error) return { write, code: error.extensions?.code, extensions: error.extensions };
        const user = answer.body.data[me ? 'updateMe' : 'updateUser'];
        return { write, user: { ...user, role: Role[user.role as keyof typeof Role] } };
      }),
    );

  /**
   * The ledger of one user after the writers: the acknowledged writes' versions are exactly the next
   * ones, each has exactly one history row (in the same order) and the refused ones none, each row's
   * `before` is the previous row's `after`, what each write returned is the state its row leads to,
   * and the stored row is the last acknowledged write's. Returns the new history rows, oldest first.
   */
  async function expectLedger(before: Snapshot, outcomes: Outcome[]): Promise<UserChange[]> {
    const { user: initial } = before;
    const acknowledged = outcomes
      .filter((o) => o.write.userId === initial.id && o.user)
      .sort((a, b) => a.user!.version - b.user!.version);
    const versions = acknowledged.map((o) => o.user!.version);
    expect(versions).toEqual(versions.map((_, i) => initial.version + 1 + i));

    const rows = (await historyOf(initial.id)).slice(before.seen);
    expect(rows.map((row) => row.requestId)).toEqual(acknowledged.map((o) => o.write.requestId));

    const state: Record<string, unknown> = { ...initial };
    for (const [i, row] of rows.entries()) {
      for (const field of row.changedFields) {
        expect({ field, before: row.changes[field].before }).toEqual({ field, before: state[field] ?? null });
        state[field] = row.changes[field].after;
      }
      expect(pick(state)).toEqual(pick(acknowledged[i].user!));
    }

    const stored = await app.stored(initial.id);
    expect(stored.version).toBe(initial.version + acknowledged.length);
    expect(pick(stored)).toEqual(pick(acknowledged.at(-1)?.user ?? initial));
    return rows;
  }

  it('stale expectedVersions are refused and every other write lands once, in version order', async () => {
    const member = await app.fixtures.user(org.orgId);
    const memberToken = (await app.fixtures.token(member.id)).token;
    // Two writes first, so that version 1 is one that has already passed.
    for (const n of [1, 2]) {
      const warmUp = await app.gql(
        UPDATE_USER,
        { id: member.id, input: { jobTitle: `warm-up ${n}` } },
        bearer(org.adminToken),
      );
      expect(warmUp.body.errors).toBeUndefined();
    }
    const before = await snapshot(member.id);
    expect(before.user.version).toBe(3);

    const admin = { callerId: org.admin.id, token: org.adminToken };
    const self = { callerId: member.id, token: memberToken };
    // Plain by the admin, plain by the member, stale (always refused), current (at most one can win).
    const kinds = ['plain', 'plain-me', 'stale', 'current'] as const;
    const writes = Array.from({ length: WRITERS }, (_, n): Write => {
      const kind = kinds[n % kinds.length];
      // updateMe cannot set metadata (admins only).
      const me = kind === 'plain-me' || (kind === 'current' && n % 8 === 7);
      return {
        requestId: `hot-version-${n}`,
        userId: member.id,
        ...(me ? self : admin),
        me,
        input: me ? { jobTitle: `writer ${n}` } : { jobTitle: `writer ${n}`, metadata: { writer: n } },
        expectedVersion: kind === 'stale' ? 1 : kind === 'current' ? before.user.version : undefined,
      };
    });
    const outcomes = await fire(writes);

    for (const [n, o] of outcomes.entries()) {
      const kind = kinds[n % kinds.length];
      if (kind === 'plain' || kind === 'plain-me') {
        expect({ n, code: o.code }).toEqual({ n, code: undefined });
      } else if (kind === 'stale' || o.code) {
        // Refused with the version it found: at least the one all writers started from, past it for `current`.
        expect({ n, code: o.code, field: o.extensions?.field }).toEqual({
          n,
          code: 'CONFLICT',
          field: 'version',
        });
        expect(o.extensions?.currentVersion).toBeGreaterThanOrEqual(
          before.user.version + (kind === 'current' ? 1 : 0),
        );
      } else {
        // A write expecting the version all writers started from wins only by being the first applied
        // (and versions are distinct, so at most one does).
        expect({ n, version: o.user?.version }).toEqual({ n, version: before.user.version + 1 });
      }
    }
    await expectLedger(before, outcomes);
  });

  it('of two admins demoting each other, one demotion lands; the demoted admin writes nothing after it', async () => {
    const orgId = await app.fixtures.org('Two admins');
    const admins = await Promise.all(
      ['Ann Admin', 'Bob Admin'].map(async (name) => {
        const user = await app.fixtures.user(orgId, { role: Role.ADMIN, name });
        return { id: user.id, token: (await app.fixtures.token(user.id)).token };
      }),
    );
    const [a, b] = admins;
    const befores = new Map([
      [a.id, await snapshot(a.id)],
      [b.id, await snapshot(b.id)],
    ]);

    // Each admin, in turn: demotes the other, edits the other, sets their own metadata, demotes themself.
    const writes = Array.from({ length: WRITERS }, (_, n): Write => {
      const [caller, other] = n % 2 ? [b, a] : [a, b];
      const kind = Math.floor(n / 2) % 4;
      const jobTitle = `writer ${n}`;
      return {
        requestId: `hot-admins-${n}`,
        callerId: caller.id,
        token: caller.token,
        userId: kind === 0 || kind === 1 ? other.id : caller.id,
        input: [
          { role: 'MEMBER', jobTitle },
          { jobTitle },
          { metadata: { writer: n } },
          { role: 'MEMBER', jobTitle },
        ][kind],
      };
    });
    const outcomes = await fire(writes);
    const rows = new Map<string, UserChange[]>();
    for (const [id, before] of befores) rows.set(id, await expectLedger(before, outcomes));

    const demotions = [...rows.values()].flat().filter((row) => row.changedFields.includes('role'));
    expect(demotions.map((row) => row.changes.role)).toEqual([{ before: Role.ADMIN, after: Role.MEMBER }]);
    const demoted = demotions[0].userId;
    const survivor = demoted === a.id ? b.id : a.id;
    const activeAdmins = await app.server.services.db.read((m) =>
      m.getRepository(User).findBy({ organizationId: orgId, role: Role.ADMIN, status: UserStatus.ACTIVE }),
    );
    expect(activeAdmins.map((user) => user.id)).toEqual([survivor]);

    for (const [n, o] of outcomes.entries()) {
      const { callerId, userId, input } = o.write;
      if (userId === survivor && input.role) {
        // Demoting the last admin is refused: a conflict for the survivor; for the demoted admin both
        // reasons hold (no right, last admin), and which is named depends on which is checked first.
        const code = callerId === survivor ? /^CONFLICT$/ : /^(FORBIDDEN|CONFLICT)$/;
        expect({ n, code: o.code }).toEqual({ n, code: expect.stringMatching(code) });
      } else if (callerId === survivor) {
        expect({ n, code: o.code }).toEqual({ n, code: undefined });
      } else if (o.code) {
        expect({ n, code: o.code }).toEqual({ n, code: 'FORBIDDEN' });
      }
    }
    // Nothing the demoted admin wrote lands after the demotion: checked on their own record, whose
    // versions order its writes, and on SQLite across both records (one connection commits every write
    // in turn, so history order is commit order; PostgreSQL commits them side by side).
    const ordered = usingPostgres
      ? rows.get(demoted)!
      : [...rows.values()].flat().sort((x, y) => x.seq - y.seq);
    const afterDemotion = ordered.slice(ordered.indexOf(demotions[0]) + 1);
    expect(afterDemotion.filter((row) => row.actorUserId === demoted)).toEqual([]);
  });

  it('an email already taken is refused alone; every other write to the same user lands', async () => {
    const target = await app.fixtures.user(org.orgId);
    const taken = await app.fixtures.user(org.orgId);
    const before = await snapshot(target.id);
    // Different column sets on purpose: a refused statement must not take another one down.
    const writes = Array.from({ length: WRITERS }, (_, n): Write => ({
      requestId: `hot-unique-${n}`,
      callerId: org.admin.id,
      token: org.adminToken,
      userId: target.id,
      input:
        n % 8 === 3
          ? { email: taken.email.toUpperCase(), jobTitle: `writer ${n}` }
          : n % 8 === 7
            ? { email: `hot-${n}-${target.id}@example.com`, jobTitle: `writer ${n}` }
            : { jobTitle: `writer ${n}`, metadata: { writer: n } },
    }));
    const outcomes = await fire(writes);

    for (const [n, o] of outcomes.entries()) {
      const expected =
        n % 8 === 3 ? { code: 'CONFLICT', field: 'email' } : { code: undefined, field: undefined };
      expect({ n, code: o.code, field: o.extensions?.field }).toEqual({ n, ...expected });
    }
    await expectLedger(before, outcomes);
    expect((await app.stored(taken.id)).email).toBe(taken.email);
  });
});

import type { RequestContext } from '../../src/auth/principal';
import { CredentialKind, Role, UserStatus } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import { MailMessage } from '../../src/entities/mail-message.entity';
import { User } from '../../src/entities/user.entity';
import { ConflictError } from '../../src/errors/app-error';
import { In } from 'typeorm';
import type { GuardedUserChange } from '../../src/db/port';
import { changeEvent } from '../../src/services/user-events';
import { changeRecord } from '../../src/services/user-history.service';
import { usingPostgres } from '../support/database';
import { useApp, useOrgAdmin } from '../support/harness';

/**
 * Writes issued together reach the database together: on SQLite the database thread commits them as
 * one batch of prepared statements, with a savepoint per job when a job fails part-way; on PostgreSQL
 * they run as one statement, falling back to one statement each. Each update must still store exactly what was sent, and fail or succeed on its own.
 */
describe('writes committed together', () => {
  let ctx: RequestContext;

  const app = useApp();
  const org = useOrgAdmin(app, 'Batch');

  beforeAll(() => {
    ctx = {
      requestId: 'batched-writes',
      principal: {
        user: org.admin,
        credentialId: org.credentialId,
        credentialKind: CredentialKind.PERSONAL_ACCESS_TOKEN,
        scopes: new Set(['users:write', 'write']),
      },
    };
  });

  /** A request of `user` with its credential `credentialId`, the user as authentication read it. */
  const contextOf = (requestId: string, user: User, credentialId: string): RequestContext => ({
    requestId,
    principal: { ...ctx.principal!, user, credentialId },
  });

  /** PostgreSQL: how many changes each change statement sent from now on carried (one: a change alone). */
  let sent: number[] = [];
  beforeEach(() => {
    sent = [];
    if (!usingPostgres) return;
    const pool = (
      app.server.services.db.users as unknown as { pool: { query: (config: any) => Promise<any> } }
    ).pool;
    const query = pool.query.bind(pool);
    jest.spyOn(pool, 'query').mockImplementation((config: { text: string; values: unknown[][] }) => {
      if (/^WITH "v"/.test(config.text)) sent.push(config.values[0].length);
      return query(config);
    });
  });
  afterEach(() => jest.restoreAllMocks());
  const together = () => sent.filter((changes) => changes > 1);
  const alone = () => sent.filter((changes) => changes === 1);

  const historyOf = (userId: string) =>
    app.server.services.db.read((m) => m.getRepository(UserChange).findBy({ userId }));

  /** A change of `target` by `caller`, as the services hand it to the data port. */
  const change = (
    caller: User,
    target: User,
    changes: Partial<User>,
    demotes: boolean,
    follows: string | null = null,
  ): GuardedUserChange => {
    const updatedAt = new Date().toISOString();
    const user = Object.assign(new User(), target, changes, { updatedAt, version: target.version + 1 });
    const callerCtx = { ...ctx, principal: { ...ctx.principal!, user: caller } };
    const history = changeRecord(callerCtx, target, changes, updatedAt);
    return {
      user,
      callerMustBeAdmin: caller.numericId,
      keepAnotherAdmin: demotes,
      history,
      event: changeEvent(target, user, history),
      mail: [],
      follows,
      claim: null,
    };
  };

  /** Changes of `target` by `caller`, each worked out on the row the one before it leaves. */
  const chain = (target: User, steps: [caller: User, changes: Partial<User>][]): GuardedUserChange[] => {
    const changes: GuardedUserChange[] = [];
    for (const [caller, fields] of steps) {
      const before = changes.at(-1);
      changes.push(change(caller, before?.user ?? target, fields, false, before?.history.id ?? null));
    }
    return changes;
  };

  // Quotes, placeholders and comment markers inside values, text beyond ASCII, numbers of every size.
  const TRICKY_NAMES = [
    "O'Brien",
    `"double" and 'single' quotes`,
    'a ?1 and ?2 and $1 placeholder',
    "'); DROP TABLE users; --",
    '/* not a comment */ -- nor this',
    'Zoë Ångström 雪 🙂',
    "''''",
    'back\\slash',
  ];

  it('stores every value exactly, with one history row each, when sent at once', async () => {
    const members = await Promise.all(TRICKY_NAMES.map(() => app.fixtures.user(org.orgId)));
    const outcomes = await Promise.all(
      members.map((member, index) =>
        app.server.services.users.update(ctx, member.id, {
          name: TRICKY_NAMES[index],
          jobTitle: index % 2 ? null : `it's ?${index}`,
          metadata: { quote: `it's "${index}"`, big: 2 ** 40 + index, small: -index - 1, ratio: index / 3 },
        }),
      ),
    );
    for (const [index, member] of members.entries()) {
      expect(outcomes[index].user.version).toBe(2);
      const stored = await app.stored(member.id);
      expect(stored.name).toBe(TRICKY_NAMES[index]);
      expect(stored.jobTitle).toBe(index % 2 ? null : `it's ?${index}`);
      expect(stored.metadata).toEqual({
        quote: `it's "${index}"`,
        big: 2 ** 40 + index,
        small: -index - 1,
        ratio: index / 3,
      });
      expect(stored.version).toBe(2);
      const history = await historyOf(member.id);
      expect(history).toHaveLength(1);
      expect(history[0].changes.name).toEqual({ before: member.name, after: TRICKY_NAMES[index] });
    }
    if (usingPostgres) {
      expect(together().length).toBeGreaterThan(0);
      expect(together().length + alone().length).toBeLessThan(TRICKY_NAMES.length);
    }
  });

  it('writes booleans too: a verified email that changes is unverified, for each of several sent at once', async () => {
    const members = await Promise.all(Array.from({ length: 6 }, () => app.fixtures.user(org.orgId)));
    const ids = members.map((member) => member.id);
    await app.server.services.db.write((m) =>
      m.getRepository(User).update({ id: In(ids) }, { emailVerified: true }),
    );
    for (const member of members) expect((await app.stored(member.id)).emailVerified).toBe(true);
    await Promise.all(
      members.map((member, index) =>
        app.server.services.users.update(ctx, member.id, {
          email: `moved-${index}-${member.id}@example.com`,
        }),
      ),
    );
    for (const [index, member] of members.entries()) {
      const stored = await app.stored(member.id);
      expect(stored.email).toBe(`moved-${index}-${member.id}@example.com`);
      expect(stored.emailVerified).toBe(false);
      expect(stored.version).toBe(2);
    }
    // Each change queued its notice to the old address in the same statement.
    const notices = await app.server.services.db.read((m) =>
      m.getRepository(MailMessage).findBy({ userId: In(ids) }),
    );
    expect(notices.map((notice) => notice.recipient).sort()).toEqual(members.map((m) => m.email).sort());
    if (usingPostgres) {
      // Written together, not each again alone after a refused statement.
      expect(together().length).toBeGreaterThan(0);
      expect(alone().length).toBeLessThan(members.length);
    }
  });

  it('a write the database refuses fails alone; the others sent with it are kept', async () => {
    const taken = await app.fixtures.user(org.orgId, { email: `taken-${Date.now()}@example.com` });
    const members = await Promise.all(Array.from({ length: 9 }, () => app.fixtures.user(org.orgId)));
    const results = await Promise.allSettled(
      members.map((member, index) =>
        app.server.services.users.update(
          ctx,
          member.id,
          // The same fields for all, so that they share one statement.
          { email: index === 4 ? taken.email.toUpperCase() : `kept-${index}-${member.id}@example.com` },
        ),
      ),
    );
    for (const [index, member] of members.entries()) {
      const stored = await app.stored(member.id);
      const history = await historyOf(member.id);
      if (index === 4) {
        expect(results[index].status).toBe('rejected');
        const error = (results[index] as PromiseRejectedResult).reason;
        expect(error).toBeInstanceOf(ConflictError);
        expect(error.extensions).toMatchObject({ code: 'CONFLICT', field: 'email' });
        expect(stored.email).toBe(member.email);
        expect(stored.version).toBe(1);
        expect(history).toHaveLength(0);
      } else {
        expect(results[index].status).toBe('fulfilled');
        expect(stored.email).toBe(`kept-${index}-${member.id}@example.com`);
        expect(stored.version).toBe(2);
        expect(history).toHaveLength(1);
      }
    }
    if (usingPostgres) {
      // The statement with every job failed as a whole; each job then ran alone.
      expect(together().length).toBeGreaterThan(0);
      expect(alone().length).toBeGreaterThanOrEqual(members.length);
    }
  });

  it('a NUL character (on SQLite an unpaired surrogate too) that reaches the database refuses its write alone', async () => {
    // No client can send one (validation refuses control characters, HTTP refuses them in headers): this
    // one comes in the request id of a call made here, written into the history row. On SQLite an
    // unpaired surrogate is refused too (PostgreSQL's driver sends it as U+FFFD).
    const refusedIds = usingPostgres ? ['before\0after'] : ['before\0after', 'half \ud800 pair'];
    const members = await Promise.all(Array.from({ length: 5 }, () => app.fixtures.user(org.orgId)));
    const refused = (index: number) => index % 2 === 1 && refusedIds[(index - 1) / 2] !== undefined;
    const results = await Promise.allSettled(
      members.map((member, index) =>
        app.server.services.users.update(
          refused(index) ? { ...ctx, requestId: refusedIds[(index - 1) / 2] } : ctx,
          member.id,
          { name: `Nul ${index}` },
        ),
      ),
    );
    for (const [index, member] of members.entries()) {
      const stored = await app.stored(member.id);
      const history = await historyOf(member.id);
      if (refused(index)) {
        expect(results[index].status).toBe('rejected');
        expect(stored).toMatchObject({ name: member.name, version: 1 });
        expect(history).toHaveLength(0);
      } else {
        expect(results[index].status).toBe('fulfilled');
        expect(stored).toMatchObject({ name: `Nul ${index}`, version: 2 });
        expect(history.map((row) => row.requestId)).toEqual(['batched-writes']);
      }
    }
  });

  // SQLite writes the changes of a transaction together, each judged on the table as it was before their
  // statement: a change by an admin demoted in the same statement applies, and must be recorded before
  // the demotion. (PostgreSQL numbers history rows as they are written, not as they commit.)
  (usingPostgres ? it.skip : it)(
    'an admin demoted in the transaction of their own change: the history never shows them acting after it',
    async () => {
      const demoted = await app.fixtures.user(org.orgId, { role: Role.ADMIN });
      const member = await app.fixtures.user(org.orgId);
      const port = app.server.services.db.users;
      const [demotedRow, memberRow] = [await port.userById(demoted.id), await port.userById(member.id)];
      // Two calls of one loop turn, the demotion first: one transaction.
      const [[demotion], [edit]] = await Promise.all([
        port.applyChanges([change(org.admin, demotedRow!, { role: Role.MEMBER }, true)]),
        port.applyChanges([change(demotedRow!, memberRow!, { jobTitle: 'Edited by an admin' }, false)]),
      ]);
      expect(demotion).toBe('applied');
      const [demotionRow] = await historyOf(demoted.id);
      const editRows = await historyOf(member.id);
      if (edit === 'applied') {
        expect(editRows).toHaveLength(1);
        expect(Number(editRows[0].seq)).toBeLessThan(Number(demotionRow.seq));
      } else {
        expect(edit).toBe('guard-failed');
        expect(editRows).toHaveLength(0);
      }
    },
  );

  it('a write whose guard no longer holds changes nothing, and the others sent with it are kept', async () => {
    const members = await Promise.all(Array.from({ length: 6 }, () => app.fixtures.user(org.orgId)));
    // The caller's role is checked again by the write itself: a caller demoted in the meantime writes nothing.
    const demoted = await app.fixtures.user(org.orgId, { role: Role.ADMIN });
    const demotedCredential = await app.fixtures.token(demoted.id);
    const demotedCtx = contextOf('demoted', demoted, demotedCredential.id);
    await app.server.services.users.update(ctx, demoted.id, { role: Role.MEMBER });
    const results = await Promise.allSettled(
      members.map((member, index) =>
        app.server.services.users.update(index === 2 ? demotedCtx : ctx, member.id, {
          name: `Guarded ${index}`,
        }),
      ),
    );
    for (const [index, member] of members.entries()) {
      const stored = await app.stored(member.id);
      if (index === 2) {
        expect(results[index]).toMatchObject({
          status: 'rejected',
          reason: expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) }),
        });
        expect(stored.version).toBe(1);
        expect(await historyOf(member.id)).toHaveLength(0);
      } else {
        expect(results[index].status).toBe('fulfilled');
        expect(stored.name).toBe(`Guarded ${index}`);
      }
    }
  });

  it('changes of one user sent together each keep their version and history; each stands or falls on its own guards', async () => {
    const port = app.server.services.db.users;
    const members = await Promise.all(Array.from({ length: 4 }, () => app.fixtures.user(org.orgId)));
    const rows = await Promise.all(members.map(async (member) => (await port.userById(member.id))!));
    const admin = (await port.userById(org.admin.id))!;
    const notAdmin = (await port.userById((await app.fixtures.user(org.orgId)).id))!;
    const email = `chained-${members[3].id}@example.com`.toLowerCase();
    // The second member changes after its chain was worked out: every change of that chain is stale.
    await app.server.services.users.update(ctx, members[1].id, { jobTitle: 'Meanwhile' });
    const chains = [
      chain(rows[0], [
        [admin, { jobTitle: 'One' }],
        [admin, { name: 'Two' }],
        [admin, { jobTitle: 'Three' }],
      ]),
      chain(rows[1], [
        [admin, { jobTitle: 'Stale one' }],
        [admin, { jobTitle: 'Stale two' }],
      ]),
      // The second change's caller is no admin: it is refused, and the one that follows it with it.
      chain(rows[2], [
        [admin, { jobTitle: 'Kept' }],
        [notAdmin, { jobTitle: 'Not an admin' }],
        [admin, { jobTitle: 'After the refused one' }],
      ]),
      // The first change moves an indexed column (email), those after it keep it.
      chain(rows[3], [
        [admin, { email, emailLower: email }],
        [admin, { jobTitle: 'Moved' }],
        [admin, { name: 'Moved twice' }],
      ]),
    ];
    // Interleaved, as writes to several users arrive: one call, one transaction.
    const sent = [0, 1, 2].flatMap((step) => chains.flatMap((changes) => changes[step] ?? []));
    const results = await port.applyChanges(sent);
    const resultOf = (changes: GuardedUserChange[]) => changes.map((c) => results[sent.indexOf(c)]);
    expect(chains.map(resultOf)).toEqual([
      ['applied', 'applied', 'applied'],
      ['guard-failed', 'guard-failed'],
      ['applied', 'guard-failed', 'guard-failed'],
      ['applied', 'applied', 'applied'],
    ]);
    const expected = [
      { version: 4, name: 'Two', jobTitle: 'Three', email: members[0].email },
      { version: 2, name: members[1].name, jobTitle: 'Meanwhile', email: members[1].email },
      { version: 2, name: members[2].name, jobTitle: 'Kept', email: members[2].email },
      { version: 4, name: 'Moved twice', jobTitle: 'Moved', email },
    ];
    for (const [index, member] of members.entries()) {
      const stored = await app.stored(member.id);
      expect({
        version: stored.version,
        name: stored.name,
        jobTitle: stored.jobTitle,
        email: stored.email,
      }).toEqual(expected[index]);
      const applied = chains[index].filter((c) => results[sent.indexOf(c)] === 'applied');
      const history = (await historyOf(member.id)).sort((a, b) => Number(a.seq) - Number(b.seq));
      expect(history.slice(index === 1 ? 1 : 0).map((row) => [row.id, row.changes])).toEqual(
        applied.map((c) => [c.history.id, c.history.changes]),
      );
    }
    // The indexed column is found by its new value.
    const found = await app.server.services.db.read((m) =>
      m.getRepository(User).findOneBy({ organizationId: org.orgId, emailLower: email }),
    );
    expect(found?.id).toBe(members[3].id);
  });

  it('users deactivated after they authenticated write nothing more to their own record', async () => {
    const member = await app.fixtures.user(org.orgId);
    const memberCredential = await app.fixtures.token(member.id);
    // The member as authentication read them, still active.
    const memberCtx = contextOf('deactivated', member, memberCredential.id);
    await app.server.services.users.update(ctx, member.id, { status: UserStatus.INACTIVE });
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, (_, index) =>
        app.server.services.users.update(memberCtx, member.id, { jobTitle: `After ${index}` }),
      ),
    );
    for (const result of results)
      expect(result).toMatchObject({
        status: 'rejected',
        reason: expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }),
      });
    const stored = await app.stored(member.id);
    expect({ version: stored.version, jobTitle: stored.jobTitle, status: stored.status }).toEqual({
      version: 2,
      jobTitle: member.jobTitle,
      status: UserStatus.INACTIVE,
    });
    expect(await historyOf(member.id)).toHaveLength(1);
  });
});

import type { RequestContext } from '../../src/auth/principal';
import { CredentialKind, Role } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import type { User } from '../../src/entities/user.entity';
import { usingPostgres } from '../support/database';
import { useApp } from '../support/harness';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An update that loses the race for a row (another writer, in practice another process, changed it
 * between the read and the write) starts again from a fresh read. On PostgreSQL that second attempt
 * holds the row from its read to its write, so writers elsewhere wait for it instead of beating it again.
 */
describe('an update that lost a race', () => {
  let orgId: string;
  let adminCtx: RequestContext;

  const contextOf = async (user: User): Promise<RequestContext> => ({
    requestId: 'lost-race',
    principal: {
      user,
      credentialId: (await app.fixtures.token(user.id)).id,
      credentialKind: CredentialKind.PERSONAL_ACCESS_TOKEN,
      scopes: new Set(['users:write', 'write']),
    },
  });
  const historyOf = (userId: string) =>
    app.server.services.db.read((m) =>
      m.getRepository(UserChange).find({ where: { userId }, order: { seq: 'ASC' } }),
    );

  const app = useApp();

  beforeAll(async () => {
    orgId = await app.fixtures.org('Races');
    adminCtx = await contextOf(await app.fixtures.user(orgId, { role: Role.ADMIN }));
  });
  afterAll(async () => {
    jest.restoreAllMocks();
  });

  it('starts again from the row as it is now and keeps the change that beat it', async () => {
    const member = await app.fixtures.user(orgId);
    // The member's own credential was read before the admin's change: its first attempt starts from
    // that (now stale) row and loses.
    const staleCtx = await contextOf(member);
    await app.server.services.users.update(adminCtx, member.id, { firstName: 'Winner' });
    const outcome = await app.server.services.users.updateMe(staleCtx, { name: 'Second' });
    expect(outcome.changedFields).toEqual(['name']);
    expect(outcome.user).toMatchObject({ name: 'Second', firstName: 'Winner', version: 3 });
    expect(await app.stored(member.id)).toMatchObject({
      name: 'Second',
      firstName: 'Winner',
      version: 3,
    });
    const history = await historyOf(member.id);
    expect(history.map((change) => change.changedFields)).toEqual([['firstName'], ['name']]);
  });

  (usingPostgres ? it : it.skip)(
    'on PostgreSQL the second attempt holds the row: a competing write waits for it instead of winning',
    async () => {
      const member = await app.fixtures.user(orgId);
      const staleCtx = await contextOf(member);
      await app.server.services.users.update(adminCtx, member.id, { firstName: 'Winner' });
      const users = app.server.services.db.users;
      const withUserLocked = users.withUserLocked.bind(users);
      let competitor: Promise<unknown> | null = null;
      let competitorWhileLocked: string | null = null;
      jest.spyOn(users, 'withUserLocked').mockImplementationOnce((id, work) =>
        withUserLocked(id, async (target, scoped) => {
          // Another writer, on a connection of its own, tries to change the row mid-attempt.
          competitor = app.server.services.db.dataSource.query(
            `UPDATE "users" SET "job_title" = 'Competitor', "version" = "version" + 1 WHERE "id" = $1`,
            [id],
          );
          competitorWhileLocked = await Promise.race([
            competitor.then(() => 'committed'),
            delay(300).then(() => 'waiting'),
          ]);
          return work(target, scoped);
        }),
      );
      const outcome = await app.server.services.users.updateMe(staleCtx, { name: 'Held' });
      expect(competitorWhileLocked).toBe('waiting');
      expect(outcome.user).toMatchObject({ name: 'Held', firstName: 'Winner', version: 3 });
      await competitor;
      expect(await app.stored(member.id)).toMatchObject({
        name: 'Held',
        firstName: 'Winner',
        jobTitle: 'Competitor',
        version: 4,
      });
    },
  );
});

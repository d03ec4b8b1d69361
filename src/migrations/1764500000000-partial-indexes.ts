import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lighter writes on the request path: the email change token indexes and the undispatched-events index
 * hold only the rows that have one (partial indexes), and the events' organization index, which only
 * rare replays read, goes.
 */
export class PartialIndexes1764500000000 implements MigrationInterface {
  name = 'PartialIndexes1764500000000';

  async up(q: QueryRunner): Promise<void> {
    for (const column of ['change', 'cancel']) {
      await q.query(`DROP INDEX "UQ_users_email_${column}_token"`);
      await q.query(
        `CREATE UNIQUE INDEX "UQ_users_email_${column}_token" ON "users" ("email_${column}_token_hash") ` +
          `WHERE "email_${column}_token_hash" IS NOT NULL`,
      );
    }
    await q.query(`DROP INDEX "IX_user_events_organization"`);
    await q.query(`DROP INDEX "IX_user_events_undispatched"`);
    await q.query(
      `CREATE INDEX "IX_user_events_undispatched" ON "user_events" ("seq") WHERE "dispatched" = false`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IX_user_events_undispatched"`);
    await q.query(`CREATE INDEX "IX_user_events_undispatched" ON "user_events" ("dispatched", "seq")`);
    await q.query(`CREATE INDEX "IX_user_events_organization" ON "user_events" ("organization_id", "seq")`);
    for (const column of ['change', 'cancel']) {
      await q.query(`DROP INDEX "UQ_users_email_${column}_token"`);
      await q.query(
        `CREATE UNIQUE INDEX "UQ_users_email_${column}_token" ON "users" ("email_${column}_token_hash")`,
      );
    }
  }
}

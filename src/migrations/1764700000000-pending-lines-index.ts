import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The index by line (endpoint, user, event) holds only pending deliveries: what is asked of it is
 * whether a line has something pending and what comes next in it, and a line's delivered past grows
 * without end.
 */
export class PendingLinesIndex1764700000000 implements MigrationInterface {
  name = 'PendingLinesIndex1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IX_webhook_deliveries_order"`);
    await q.query(
      `CREATE INDEX "IX_webhook_deliveries_line" ON "webhook_deliveries" ("endpoint_id", "user_id", "event_seq") WHERE "state" = 'pending'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IX_webhook_deliveries_line"`);
    await q.query(
      `CREATE INDEX "IX_webhook_deliveries_order" ON "webhook_deliveries" ("endpoint_id", "user_id", "event_seq")`,
    );
  }
}

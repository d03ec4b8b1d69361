import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The pending deliveries that are first of their line. */
const READY = `UPDATE "webhook_deliveries" SET "ready" = true WHERE "state" = 'pending' AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p WHERE p."endpoint_id" = "webhook_deliveries"."endpoint_id" AND p."user_id" = "webhook_deliveries"."user_id" AND p."state" = 'pending' AND p."event_seq" < "webhook_deliveries"."event_seq")`;

/**
 * Each line of deliveries (one user's to one endpoint) marks its first pending delivery `ready`, and
 * the sender reads only those, by due time: the index by state and due time had it sort and check
 * every pending delivery each round, so a backlog made every round slower.
 */
export class DeliveryLines1764600000000 implements MigrationInterface {
  name = 'DeliveryLines1764600000000';

  async up(q: QueryRunner): Promise<void> {
    const postgres = q.connection.options.type === 'postgres';
    await q.query(
      `ALTER TABLE "webhook_deliveries" ADD "ready" boolean NOT NULL DEFAULT ${postgres ? 'false' : '(0)'}`,
    );
    await q.query(READY);
    await q.query(`DROP INDEX "IX_webhook_deliveries_due"`);
    await q.query(
      `CREATE INDEX "IX_webhook_deliveries_ready" ON "webhook_deliveries" ("next_attempt_at") WHERE "state" = 'pending' AND "ready" = true`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IX_webhook_deliveries_ready"`);
    await q.query(
      `CREATE INDEX "IX_webhook_deliveries_due" ON "webhook_deliveries" ("state", "next_attempt_at")`,
    );
    await q.query(`ALTER TABLE "webhook_deliveries" DROP COLUMN "ready"`);
  }
}

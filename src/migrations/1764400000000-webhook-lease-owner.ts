import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Deliveries are leased a round at a time: each round marks what it took, and reads it back by the mark. */
export class WebhookLeaseOwner1764400000000 implements MigrationInterface {
  name = 'WebhookLeaseOwner1764400000000';

  async up(q: QueryRunner): Promise<void> {
    const type = q.connection.options.type === 'postgres' ? 'character varying(40)' : 'varchar(40)';
    await q.query(`ALTER TABLE "webhook_deliveries" ADD "lease_owner" ${type}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "webhook_deliveries" DROP COLUMN "lease_owner"`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Leasing returns the deliveries it took (RETURNING), so no sender reads them back by a mark any more:
 * the lease owner column goes.
 */
export class DropLeaseOwner1764800000000 implements MigrationInterface {
  name = 'DropLeaseOwner1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "webhook_deliveries" DROP COLUMN "lease_owner"`);
  }

  async down(q: QueryRunner): Promise<void> {
    const type = q.connection.options.type === 'postgres' ? 'character varying(40)' : 'varchar(40)';
    await q.query(`ALTER TABLE "webhook_deliveries" ADD "lease_owner" ${type}`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The outcome of an Idempotency-Key's write, stored in the same transaction as the write, so that a
 * retry after a crash replays it instead of writing again.
 */
export class IdempotencyAppliedResult1764100000000 implements MigrationInterface {
  name = 'IdempotencyAppliedResult1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "idempotency_keys" ADD "applied_result" text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "idempotency_keys" DROP COLUMN "applied_result"`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stored responses for Idempotency-Key retries; on PostgreSQL also the table that the shared rate-limit
 * store uses (its layout is rate-limiter-flexible's), so no table is ever created at run time.
 */
export class IdempotencyAndRateLimits1763900000000 implements MigrationInterface {
  name = 'IdempotencyAndRateLimits1763900000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'postgres') {
      await q.query(
        `CREATE TABLE "idempotency_keys" ("id" character varying(40) NOT NULL, "credential_id" character varying(40) NOT NULL, "key" character varying(255) NOT NULL, "fingerprint" character varying(64) NOT NULL, "status" integer, "response_body" text, "response_headers" text, "created_at" character varying(32) NOT NULL, "expires_at" character varying(32) NOT NULL, CONSTRAINT "PK_8ad20779ad0411107a56e53d0f6" PRIMARY KEY ("id"))`,
      );
      await q.query(
        `CREATE TABLE "rate_limits" ("key" varchar(255) PRIMARY KEY, "points" integer NOT NULL DEFAULT 0, "expire" bigint)`,
      );
    } else {
      await q.query(
        `CREATE TABLE "idempotency_keys" ("id" varchar(40) PRIMARY KEY NOT NULL, "credential_id" varchar(40) NOT NULL, "key" varchar(255) NOT NULL, "fingerprint" varchar(64) NOT NULL, "status" integer, "response_body" text, "response_headers" text, "created_at" varchar(32) NOT NULL, "expires_at" varchar(32) NOT NULL)`,
      );
    }
    await q.query(`CREATE INDEX "IX_idempotency_keys_expires" ON "idempotency_keys" ("expires_at")`);
    await q.query(
      `CREATE UNIQUE INDEX "UQ_idempotency_keys_owner_key" ON "idempotency_keys" ("credential_id", "key")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "idempotency_keys"`);
    if (q.connection.options.type === 'postgres') await q.query(`DROP TABLE "rate_limits"`);
  }
}

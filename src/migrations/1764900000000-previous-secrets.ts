import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every earlier secret still in its rotation's overlap signs (`previous_secrets`, a JSON list of
 * `{ secret, expiresAt }`), not only the last one: a second rotation within the overlap kept dropping the
 * first old secret at once. The one previous secret of an endpoint moves into the list.
 */
export class PreviousSecrets1764900000000 implements MigrationInterface {
  name = 'PreviousSecrets1764900000000';

  async up(q: QueryRunner): Promise<void> {
    const postgres = q.connection.options.type === 'postgres';
    await q.query(`ALTER TABLE "webhook_endpoints" ADD "previous_secrets" text NOT NULL DEFAULT '[]'`);
    const list = postgres
      ? `json_build_array(json_build_object('secret', "previous_secret", 'expiresAt', "previous_secret_expires_at"))::text`
      : `json_array(json_object('secret', "previous_secret", 'expiresAt', "previous_secret_expires_at"))`;
    await q.query(
      `UPDATE "webhook_endpoints" SET "previous_secrets" = ${list} WHERE "previous_secret" IS NOT NULL AND "previous_secret_expires_at" IS NOT NULL`,
    );
    await q.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "previous_secret"`);
  }

  async down(q: QueryRunner): Promise<void> {
    const postgres = q.connection.options.type === 'postgres';
    await q.query(
      `ALTER TABLE "webhook_endpoints" ADD "previous_secret" ${postgres ? 'character varying(100)' : 'varchar(100)'}`,
    );
    // The last earlier secret is the one the single column held.
    const last = postgres
      ? `("previous_secrets"::json -> -1) ->> 'secret'`
      : `json_extract("previous_secrets", '$[#-1].secret')`;
    await q.query(`UPDATE "webhook_endpoints" SET "previous_secret" = ${last}`);
    await q.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "previous_secrets"`);
  }
}

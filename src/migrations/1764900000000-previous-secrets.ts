import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every earlier secret still in its rotation's overlap signs (`previous_secrets`, a JSON list of
 * `{ secret, expiresAt }`), not only the last one: a second rotation within the overlap kept dropping the
 * first old secret at once. The one previous secret of an endpoint moves into the list, with its
 * expiry; the last one's expiry is what `previous_secret_expires_at` held, so that column goes too.
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
    await q.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "previous_secret_expires_at"`);
  }

  async down(q: QueryRunner): Promise<void> {
    const postgres = q.connection.options.type === 'postgres';
    const varchar = (length: number) => (postgres ? `character varying(${length})` : `varchar(${length})`);
    await q.query(`ALTER TABLE "webhook_endpoints" ADD "previous_secret" ${varchar(100)}`);
    await q.query(`ALTER TABLE "webhook_endpoints" ADD "previous_secret_expires_at" ${varchar(32)}`);
    // The last earlier secret, and its expiry, are what the single columns held.
    const last = (field: string) =>
      postgres
        ? `("previous_secrets"::json -> -1) ->> '${field}'`
        : `json_extract("previous_secrets", '$[#-1].${field}')`;
    await q.query(
      `UPDATE "webhook_endpoints" SET "previous_secret" = ${last('secret')}, "previous_secret_expires_at" = ${last('expiresAt')}`,
    );
    await q.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "previous_secrets"`);
  }
}

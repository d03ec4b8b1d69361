import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Verified email changes: the pending address and its links' token hashes on the user, and the mail
 * outbox, written in the change's transaction.
 */
export class EmailChanges1764200000000 implements MigrationInterface {
  name = 'EmailChanges1764200000000';

  async up(q: QueryRunner): Promise<void> {
    const postgres = q.connection.options.type === 'postgres';
    const varchar = (n: number) => (postgres ? `character varying(${n})` : `varchar(${n})`);
    await q.query(`ALTER TABLE "users" ADD "pending_email" ${varchar(254)}`);
    await q.query(`ALTER TABLE "users" ADD "pending_email_expires_at" ${varchar(32)}`);
    await q.query(`ALTER TABLE "users" ADD "email_change_token_hash" ${varchar(64)}`);
    await q.query(`ALTER TABLE "users" ADD "email_cancel_token_hash" ${varchar(64)}`);
    await q.query(`CREATE UNIQUE INDEX "UQ_users_email_change_token" ON "users" ("email_change_token_hash")`);
    await q.query(`CREATE UNIQUE INDEX "UQ_users_email_cancel_token" ON "users" ("email_cancel_token_hash")`);
    const columns =
      `"kind" ${varchar(40)} NOT NULL, "user_id" ${varchar(40)} NOT NULL, "recipient" ${varchar(254)} NOT NULL, ` +
      `"subject" ${varchar(300)} NOT NULL, "text" text, "html" text, "action_url" text, "state" ${varchar(16)} NOT NULL, ` +
      `"attempts" integer NOT NULL DEFAULT ${postgres ? `'0'` : '(0)'}, "next_attempt_at" ${varchar(32)} NOT NULL, ` +
      `"lease_until" ${varchar(32)}, "last_error" ${varchar(500)}, "created_at" ${varchar(32)} NOT NULL, "sent_at" ${varchar(32)}`;
    await q.query(
      postgres
        ? `CREATE TABLE "mail_outbox" ("id" ${varchar(40)} NOT NULL, ${columns}, CONSTRAINT "PK_fecc63c96385bc35a39ccf2a72e" PRIMARY KEY ("id"))`
        : `CREATE TABLE "mail_outbox" ("id" varchar(40) PRIMARY KEY NOT NULL, ${columns})`,
    );
    await q.query(`CREATE INDEX "IX_mail_outbox_user" ON "mail_outbox" ("user_id")`);
    await q.query(`CREATE INDEX "IX_mail_outbox_due" ON "mail_outbox" ("state", "next_attempt_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "mail_outbox"`);
    await q.query(`DROP INDEX "UQ_users_email_cancel_token"`);
    await q.query(`DROP INDEX "UQ_users_email_change_token"`);
    for (const column of [
      'email_cancel_token_hash',
      'email_change_token_hash',
      'pending_email_expires_at',
      'pending_email',
    ])
      await q.query(`ALTER TABLE "users" DROP COLUMN "${column}"`);
  }
}

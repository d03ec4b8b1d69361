import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The change history: one row per successful change, written with the change. */
export class UserChanges1764000000000 implements MigrationInterface {
  name = 'UserChanges1764000000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'postgres') {
      await q.query(
        `CREATE TABLE "user_changes" ("seq" SERIAL NOT NULL, "id" character varying(40) NOT NULL, "organization_id" character varying(40) NOT NULL, "user_id" character varying(40) NOT NULL, "actor_user_id" character varying(40) NOT NULL, "credential_id" character varying(40) NOT NULL, "request_id" character varying(128) NOT NULL, "changed_fields" text NOT NULL, "changes" text NOT NULL, "created_at" character varying(32) NOT NULL, CONSTRAINT "PK_129a07e9e921f7adbeaa665010f" PRIMARY KEY ("seq"))`,
      );
    } else {
      await q.query(
        `CREATE TABLE "user_changes" ("seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "id" varchar(40) NOT NULL, "organization_id" varchar(40) NOT NULL, "user_id" varchar(40) NOT NULL, "actor_user_id" varchar(40) NOT NULL, "credential_id" varchar(40) NOT NULL, "request_id" varchar(128) NOT NULL, "changed_fields" text NOT NULL, "changes" text NOT NULL, "created_at" varchar(32) NOT NULL)`,
      );
    }
    await q.query(`CREATE UNIQUE INDEX "UQ_user_changes_id" ON "user_changes" ("id")`);
    await q.query(`CREATE INDEX "IX_user_changes_user" ON "user_changes" ("user_id", "seq")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "user_changes"`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Organizations, users and credentials. SQL written per database; a test checks it matches the entities. */
export class InitialSchema1763800000000 implements MigrationInterface {
  name = 'InitialSchema1763800000000';

  async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'postgres') {
      await q.query(
        `CREATE TABLE "organizations" ("id" character varying(40) NOT NULL, "name" character varying(200) NOT NULL, "created_at" character varying(32) NOT NULL, CONSTRAINT "PK_6b031fcd0863e3f6b44230163f9" PRIMARY KEY ("id"))`,
      );
      await q.query(
        `CREATE TABLE "users" ("numeric_id" SERIAL NOT NULL, "id" character varying(40) NOT NULL, "uuid" character varying(36) NOT NULL, "organization_id" character varying(40) NOT NULL, "email" character varying(254) NOT NULL, "email_lower" character varying(254) NOT NULL, "email_verified" boolean NOT NULL DEFAULT false, "name" character varying(200) NOT NULL, "username" character varying(40), "username_lower" character varying(40), "first_name" character varying(200), "last_name" character varying(200), "role" character varying(16) NOT NULL, "status" character varying(16) NOT NULL, "credits_balance" integer NOT NULL DEFAULT '0', "job_title" character varying(200), "company_name" character varying(200), "experiments" text NOT NULL, "projects_sort_order" character varying(32), "timezone" character varying(64), "metadata" text NOT NULL, "created_at" character varying(32) NOT NULL, "updated_at" character varying(32) NOT NULL, "version" integer NOT NULL DEFAULT '1', CONSTRAINT "PK_fdf0a4eee09cb72d91138a5b5d0" PRIMARY KEY ("numeric_id"))`,
      );
      await this.userIndexes(q);
      await q.query(
        `CREATE TABLE "credentials" ("id" character varying(40) NOT NULL, "kind" character varying(16) NOT NULL, "user_id" character varying(40) NOT NULL, "scopes" character varying(500) NOT NULL, "name" character varying(200), "secret_hash" character varying(64), "created_at" character varying(32) NOT NULL, "expires_at" character varying(32), "last_used_at" character varying(32), "revoked_at" character varying(32), CONSTRAINT "PK_1e38bc43be6697cdda548ad27a6" PRIMARY KEY ("id"))`,
      );
      await this.credentialIndexes(q);
      await q.query(
        `ALTER TABLE "users" ADD CONSTRAINT "FK_21a659804ed7bf61eb91688dea7" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      );
      await q.query(
        `ALTER TABLE "credentials" ADD CONSTRAINT "FK_c68a6c53e95a7dc357f4ebce8f0" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
      );
      return;
    }
    await q.query(
      `CREATE TABLE "organizations" ("id" varchar(40) PRIMARY KEY NOT NULL, "name" varchar(200) NOT NULL, "created_at" varchar(32) NOT NULL)`,
    );
    await q.query(
      `CREATE TABLE "users" ("numeric_id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "id" varchar(40) NOT NULL, "uuid" varchar(36) NOT NULL, "organization_id" varchar(40) NOT NULL, "email" varchar(254) NOT NULL, "email_lower" varchar(254) NOT NULL, "email_verified" boolean NOT NULL DEFAULT (0), "name" varchar(200) NOT NULL, "username" varchar(40), "username_lower" varchar(40), "first_name" varchar(200), "last_name" varchar(200), "role" varchar(16) NOT NULL, "status" varchar(16) NOT NULL, "credits_balance" integer NOT NULL DEFAULT (0), "job_title" varchar(200), "company_name" varchar(200), "experiments" text NOT NULL, "projects_sort_order" varchar(32), "timezone" varchar(64), "metadata" text NOT NULL, "created_at" varchar(32) NOT NULL, "updated_at" varchar(32) NOT NULL, "version" integer NOT NULL DEFAULT (1), CONSTRAINT "FK_21a659804ed7bf61eb91688dea7" FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await this.userIndexes(q);
    await q.query(
      `CREATE TABLE "credentials" ("id" varchar(40) PRIMARY KEY NOT NULL, "kind" varchar(16) NOT NULL, "user_id" varchar(40) NOT NULL, "scopes" varchar(500) NOT NULL, "name" varchar(200), "secret_hash" varchar(64), "created_at" varchar(32) NOT NULL, "expires_at" varchar(32), "last_used_at" varchar(32), "revoked_at" varchar(32), CONSTRAINT "FK_c68a6c53e95a7dc357f4ebce8f0" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE NO ACTION)`,
    );
    await this.credentialIndexes(q);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "credentials"`);
    await q.query(`DROP TABLE "users"`);
    await q.query(`DROP TABLE "organizations"`);
  }

  private async userIndexes(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNIQUE INDEX "UQ_users_id" ON "users" ("id")`);
    await q.query(`CREATE UNIQUE INDEX "UQ_users_uuid" ON "users" ("uuid")`);
    await q.query(
      `CREATE UNIQUE INDEX "UQ_users_org_username" ON "users" ("organization_id", "username_lower")`,
    );
    await q.query(`CREATE UNIQUE INDEX "UQ_users_org_email" ON "users" ("organization_id", "email_lower")`);
  }

  private async credentialIndexes(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "IX_credentials_user" ON "credentials" ("user_id")`);
    await q.query(`CREATE UNIQUE INDEX "UQ_credentials_secret_hash" ON "credentials" ("secret_hash")`);
  }
}

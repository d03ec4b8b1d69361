import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Change events: each committed change's event, written in its transaction (user_events), and the
 * webhook endpoints with their deliveries. SQL as TypeORM generates it for each database.
 */
export class ChangeEvents1764300000000 implements MigrationInterface {
  name = 'ChangeEvents1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const statements =
      q.connection.options.type === 'postgres'
        ? [
            `CREATE TABLE "user_events" ("seq" SERIAL NOT NULL, "id" character varying(40) NOT NULL, "type" character varying(32) NOT NULL, "organization_id" character varying(40) NOT NULL, "user_id" character varying(40) NOT NULL, "user_version" integer NOT NULL, "occurred_at" character varying(32) NOT NULL, "payload" text NOT NULL, "dispatched" boolean NOT NULL DEFAULT false, CONSTRAINT "PK_9e914c377018f941cc25732703a" PRIMARY KEY ("seq"))`,
            `CREATE UNIQUE INDEX "UQ_user_events_id" ON "user_events" ("id")`,
            `CREATE INDEX "IX_user_events_organization" ON "user_events" ("organization_id", "seq")`,
            `CREATE INDEX "IX_user_events_user" ON "user_events" ("user_id", "user_version")`,
            `CREATE INDEX "IX_user_events_undispatched" ON "user_events" ("dispatched", "seq")`,
            `CREATE TABLE "webhook_endpoints" ("id" character varying(40) NOT NULL, "organization_id" character varying(40) NOT NULL, "url" character varying(2000) NOT NULL, "description" character varying(500), "event_types" text NOT NULL, "secret" character varying(100) NOT NULL, "previous_secret" character varying(100), "previous_secret_expires_at" character varying(32), "enabled" boolean NOT NULL DEFAULT true, "disabled_reason" character varying(500), "last_success_at" character varying(32), "created_at" character varying(32) NOT NULL, "updated_at" character varying(32) NOT NULL, CONSTRAINT "PK_054c4cfb95223732f5939d2d546" PRIMARY KEY ("id"))`,
            `CREATE INDEX "IX_webhook_endpoints_organization" ON "webhook_endpoints" ("organization_id")`,
            `CREATE TABLE "webhook_deliveries" ("seq" SERIAL NOT NULL, "id" character varying(40) NOT NULL, "endpoint_id" character varying(40) NOT NULL, "event_seq" integer NOT NULL, "event_id" character varying(40) NOT NULL, "user_id" character varying(40) NOT NULL, "state" character varying(16) NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" character varying(32) NOT NULL, "lease_until" character varying(32), "last_status" integer, "last_error" character varying(500), "created_at" character varying(32) NOT NULL, "delivered_at" character varying(32), CONSTRAINT "PK_081a24068c3e7db0ca65a3c7440" PRIMARY KEY ("seq"))`,
            `CREATE UNIQUE INDEX "UQ_webhook_deliveries_id" ON "webhook_deliveries" ("id")`,
            `CREATE INDEX "IX_webhook_deliveries_endpoint" ON "webhook_deliveries" ("endpoint_id", "seq")`,
            `CREATE INDEX "IX_webhook_deliveries_order" ON "webhook_deliveries" ("endpoint_id", "user_id", "event_seq")`,
            `CREATE INDEX "IX_webhook_deliveries_due" ON "webhook_deliveries" ("state", "next_attempt_at")`,
          ]
        : [
            `CREATE TABLE "user_events" ("seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "id" varchar(40) NOT NULL, "type" varchar(32) NOT NULL, "organization_id" varchar(40) NOT NULL, "user_id" varchar(40) NOT NULL, "user_version" integer NOT NULL, "occurred_at" varchar(32) NOT NULL, "payload" text NOT NULL, "dispatched" boolean NOT NULL DEFAULT (0))`,
            `CREATE UNIQUE INDEX "UQ_user_events_id" ON "user_events" ("id")`,
            `CREATE INDEX "IX_user_events_organization" ON "user_events" ("organization_id", "seq")`,
            `CREATE INDEX "IX_user_events_user" ON "user_events" ("user_id", "user_version")`,
            `CREATE INDEX "IX_user_events_undispatched" ON "user_events" ("dispatched", "seq")`,
            `CREATE TABLE "webhook_endpoints" ("id" varchar(40) PRIMARY KEY NOT NULL, "organization_id" varchar(40) NOT NULL, "url" varchar(2000) NOT NULL, "description" varchar(500), "event_types" text NOT NULL, "secret" varchar(100) NOT NULL, "previous_secret" varchar(100), "previous_secret_expires_at" varchar(32), "enabled" boolean NOT NULL DEFAULT (1), "disabled_reason" varchar(500), "last_success_at" varchar(32), "created_at" varchar(32) NOT NULL, "updated_at" varchar(32) NOT NULL)`,
            `CREATE INDEX "IX_webhook_endpoints_organization" ON "webhook_endpoints" ("organization_id")`,
            `CREATE TABLE "webhook_deliveries" ("seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "id" varchar(40) NOT NULL, "endpoint_id" varchar(40) NOT NULL, "event_seq" integer NOT NULL, "event_id" varchar(40) NOT NULL, "user_id" varchar(40) NOT NULL, "state" varchar(16) NOT NULL, "attempts" integer NOT NULL DEFAULT (0), "next_attempt_at" varchar(32) NOT NULL, "lease_until" varchar(32), "last_status" integer, "last_error" varchar(500), "created_at" varchar(32) NOT NULL, "delivered_at" varchar(32))`,
            `CREATE UNIQUE INDEX "UQ_webhook_deliveries_id" ON "webhook_deliveries" ("id")`,
            `CREATE INDEX "IX_webhook_deliveries_endpoint" ON "webhook_deliveries" ("endpoint_id", "seq")`,
            `CREATE INDEX "IX_webhook_deliveries_order" ON "webhook_deliveries" ("endpoint_id", "user_id", "event_seq")`,
            `CREATE INDEX "IX_webhook_deliveries_due" ON "webhook_deliveries" ("state", "next_attempt_at")`,
          ];
    for (const statement of statements) await q.query(statement);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "webhook_deliveries"`);
    await q.query(`DROP TABLE "webhook_endpoints"`);
    await q.query(`DROP TABLE "user_events"`);
  }
}

import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The active admins of an organization, found by index: a demotion asks whether another remains (on
 * PostgreSQL under the organization's lock), which scanned every user of the organization.
 */
export class ActiveAdminsIndex1765000000000 implements MigrationInterface {
  name = 'ActiveAdminsIndex1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "IX_users_org_role_status" ON "users" ("organization_id", "role", "status")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "IX_users_org_role_status"`);
  }
}

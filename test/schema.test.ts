import { migrations } from '../src/migrations';
import { UserEventFeed } from '../src/services/user-event-feed';
import fs from 'node:fs';
import path from 'node:path';
import { buildAppSchema, renderSchema, type SchemaServices } from '../src/graphql/schema';
import { useDatabase } from './support/processes';

describe('schema drift', () => {
  it('schema.graphql matches the code (on failure run `npm run schema` and commit the result)', async () => {
    // Building the schema never calls a resolver, so no service is needed.
    const schema = await buildAppSchema({
      feed: new UserEventFeed(undefined as never, 1000),
    } as SchemaServices);
    const committed = fs.readFileSync(path.resolve(__dirname, '..', 'schema.graphql'), 'utf8');
    const generated = renderSchema(schema);
    if (generated !== committed) {
      throw new Error(
        'schema.graphql is out of date with the code: run `npm run schema` and commit schema.graphql.\n' +
          'First differing line: ' +
          firstDifference(committed, generated),
      );
    }
    expect(generated).toBe(committed);
  });

  describe('migrations', () => {
    // A database opened as a server opens it (migrations run), with no app running on it: on SQLite
    // TypeORM's connections share one query runner, and each query the app's background work makes
    // releases it when done, which empties the list of tables the schema builder has read so far.
    const spawned = useDatabase();

    it('after every migration ran, the database matches the entities (no pending schema change)', async () => {
      const { dataSource } = await spawned.open();
      const pending = await dataSource.driver.createSchemaBuilder().log();
      // On failure: write a migration for these statements (for SQLite and PostgreSQL) in src/migrations.
      expect(pending.upQueries.map((query) => query.query)).toEqual([]);
    });

    it('no migration is left to run', async () => {
      expect(await (await spawned.open()).dataSource.showMigrations()).toBe(false);
    });

    it('the webhook endpoints’ one previous secret moves into the list of earlier secrets, and back', async () => {
      const { dataSource } = await spawned.open();
      const postgres = dataSource.options.type === 'postgres';
      const expiresAt = new Date(Date.now() + 3600_000).toISOString();
      const endpoint = (id: string, previous: string | null) =>
        dataSource.query(
          `INSERT INTO "webhook_endpoints" ("id", "organization_id", "url", "event_types", "secret", "previous_secret", "previous_secret_expires_at", "created_at", "updated_at") ` +
            `VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => (postgres ? `$${n}` : '?')).join(', ')})`,
          [
            id,
            'org_x',
            'https://127.0.0.1/hook',
            '[]',
            'whsec_new',
            previous,
            previous && expiresAt,
            expiresAt,
            expiresAt,
          ],
        );
      // Back to just before the migration under test: the ones after it are undone first.
      const under = migrations.findIndex((migration) => migration.name === 'PreviousSecrets1764900000000');
      const undoIt = async () => {
        for (let n = migrations.length - 1; n >= under; n--)
          await dataSource.undoLastMigration({ transaction: 'each' });
      };
      await undoIt();
      await endpoint('whe_a', 'whsec_old');
      await endpoint('whe_b', null);
      await dataSource.runMigrations({ transaction: 'each' });
      const lists = await dataSource.query(
        `SELECT "previous_secrets" FROM "webhook_endpoints" ORDER BY "id"`,
      );
      expect(lists.map((row: { previous_secrets: string }) => JSON.parse(row.previous_secrets))).toEqual([
        [{ secret: 'whsec_old', expiresAt }],
        [],
      ]);
      await undoIt();
      expect(
        await dataSource.query(
          `SELECT "id", "previous_secret", "previous_secret_expires_at" FROM "webhook_endpoints" ORDER BY "id"`,
        ),
      ).toEqual([
        { id: 'whe_a', previous_secret: 'whsec_old', previous_secret_expires_at: expiresAt },
        { id: 'whe_b', previous_secret: null, previous_secret_expires_at: null },
      ]);
      await dataSource.runMigrations({ transaction: 'each' });
    });
  });
});

function firstDifference(a: string, b: string): string {
  const left = a.split('\n');
  const right = b.split('\n');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i])
      return `line ${i + 1}: committed ${JSON.stringify(left[i])}, code ${JSON.stringify(right[i])}`;
  }
  return '(none)';
}

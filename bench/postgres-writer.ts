import { Client } from 'pg';
import { type Columns, type Constants, type TableWriter, type UserBatch, USER_COLUMNS } from './table-writer';

/** Users $1 … $2 computed by PostgreSQL; the uuid is a v4 whose first group is the index (sorted inserts). */
const INSERT_USERS = `INSERT INTO users (${USER_COLUMNS})
SELECT i + 1, 'usr_' || $3::text || lpad(i::text, 10, '0'),
  overlay(gen_random_uuid()::text placing lpad(to_hex(i), 8, '0') from 1 for 8),
  $4::text, 'user' || lpad(i::text, 10, '0') || '@bench.test', 'user' || lpad(i::text, 10, '0') || '@bench.test',
  'Bench User ' || i, 'user' || lpad(i::text, 10, '0'), 'user' || lpad(i::text, 10, '0'),
  CASE WHEN i = 0 THEN 'admin' ELSE 'member' END, 'active', '[]', '{}', $5::text, $5::text
FROM generate_series($1::int, $2::int) AS i`;

/**
 * PostgreSQL bulk writer: one `INSERT … SELECT FROM unnest($1, $2, …)` per batch, as a named (prepared)
 * statement, so a batch of any size costs one round trip and a handful of parameters.
 */
export async function openPostgresWriter(url: string): Promise<TableWriter> {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('SET synchronous_commit = off');
  // The rows reference the one organization by construction; where allowed (superuser), skip the
  // per-row foreign-key triggers, which double the cost of a million-row load. Elsewhere they just run.
  await client.query('SET session_replication_role = replica').catch(() => undefined);
  const names = new Map<string, string>();

  const statementName = (key: string) => {
    let name = names.get(key);
    if (!name) {
      name = `bench_seed_${names.size + 1}`;
      names.set(key, name);
    }
    return name;
  };

  return {
    begin: async () => void (await client.query('BEGIN')),
    commit: async () => void (await client.query('COMMIT')),
    insert: async (table: string, columns: Columns, constants: Constants = {}) => {
      const columnNames = Object.keys(columns);
      const constantNames = Object.keys(constants);
      const arrayType = (name: string) =>
        columns[name].some((value) => typeof value === 'number') ? 'int[]' : 'text[]';
      const arrays = columnNames.map((name, i) => `$${i + 1}::${arrayType(name)}`);
      const aliases = columnNames.map((_, i) => `c${i}`);
      const constantParams = constantNames.map((_, k) => `$${columnNames.length + k + 1}`);
      const text =
        `INSERT INTO "${table}" (${[...columnNames, ...constantNames].map((n) => `"${n}"`).join(', ')}) ` +
        `SELECT ${[...aliases, ...constantParams].join(', ')} FROM unnest(${arrays.join(', ')}) AS t(${aliases.join(', ')})`;
      await client.query({
        name: statementName(text),
        text,
        values: [
          ...columnNames.map((name) => columns[name]),
          ...constantNames.map((name) => constants[name]),
        ],
      });
    },
    insertUsers: async (b: UserBatch) => {
      await client.query({
        name: 'bench_seed_users',
        text: INSERT_USERS,
        values: [b.first, b.last, b.nonce, b.organizationId, b.now],
      });
    },
    finish: async () => {
      await client.query(
        `SELECT setval(pg_get_serial_sequence('users', 'numeric_id'), (SELECT max(numeric_id) FROM users))`,
      );
      await client.query('ANALYZE organizations, users, credentials');
    },
    close: () => client.end(),
  };
}

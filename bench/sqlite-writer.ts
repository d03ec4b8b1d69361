import sqlite3 from 'sqlite3';
import { type Columns, type Constants, type TableWriter, type UserBatch, USER_COLUMNS } from './table-writer';

/** Users ?1 … ?2 computed by SQLite; the uuid is a v4 whose first group is the index (sorted inserts). */
const INSERT_USERS = `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
INSERT INTO users (${USER_COLUMNS})
SELECT i + 1, 'usr_' || ?3 || printf('%010d', i),
  printf('%08x', i) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' ||
    substr('89ab', 1 + abs(random() % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))),
  ?4, printf('user%010d@bench.test', i), printf('user%010d@bench.test', i), 'Bench User ' || i,
  printf('user%010d', i), printf('user%010d', i), CASE WHEN i = 0 THEN 'admin' ELSE 'member' END,
  'active', '[]', '{}', ?5, ?5
FROM s`;

function run(db: sqlite3.Database, sql: string, params: unknown[] = []): Promise<void> {
  return new Promise((resolve, reject) =>
    db.run(sql, params, (error) => (error ? reject(error) : resolve())),
  );
}

/**
 * SQLite bulk writer. Statements use numbered parameters (`?N`) so shared values are bound once per
 * batch, and are prepared once per shape and reused, which keeps a million-row seed to seconds.
 */
export async function openSqliteWriter(file: string): Promise<TableWriter> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite3.Database(file, (error) =>
      error ? reject(error) : resolve(opened),
    );
  });
  // The file is thrown away after the run: durability during the load buys nothing.
  await run(db, 'PRAGMA journal_mode = WAL');
  await run(db, 'PRAGMA synchronous = OFF');
  await run(db, 'PRAGMA cache_size = -262144');
  const statements = new Map<string, sqlite3.Statement>();

  const statementFor = (table: string, names: string[], constantNames: string[], rows: number) => {
    const key = `${table}|${names.join(',')}|${constantNames.join(',')}|${rows}`;
    let statement = statements.get(key);
    if (!statement) {
      const width = names.length;
      const tuples: string[] = [];
      for (let r = 0; r < rows; r++) {
        const row = names.map((_, c) => `?${constantNames.length + r * width + c + 1}`);
        constantNames.forEach((_, k) => row.push(`?${k + 1}`));
        tuples.push(`(${row.join(', ')})`);
      }
      const columnList = [...names, ...constantNames].map((name) => `"${name}"`).join(', ');
      statement = db.prepare(`INSERT INTO "${table}" (${columnList}) VALUES ${tuples.join(', ')}`);
      statements.set(key, statement);
    }
    return statement;
  };

  return {
    begin: () => run(db, 'BEGIN'),
    commit: () => run(db, 'COMMIT'),
    insert: (table: string, columns: Columns, constants: Constants = {}) => {
      const names = Object.keys(columns);
      const constantNames = Object.keys(constants);
      const rows = columns[names[0]].length;
      const params: unknown[] = constantNames.map((name) => constants[name]);
      for (let r = 0; r < rows; r++) for (const name of names) params.push(columns[name][r]);
      const statement = statementFor(table, names, constantNames, rows);
      return new Promise<void>((resolve, reject) =>
        statement.run(params, (error) => (error ? reject(error) : resolve())),
      );
    },
    insertUsers: (b: UserBatch) => run(db, INSERT_USERS, [b.first, b.last, b.nonce, b.organizationId, b.now]),
    finish: () => run(db, 'ANALYZE'),
    close: async () => {
      for (const statement of statements.values()) {
        await new Promise<void>((resolve) => statement.finalize(() => resolve()));
      }
      await run(db, 'PRAGMA wal_checkpoint(TRUNCATE)');
      await new Promise<void>((resolve, reject) => db.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

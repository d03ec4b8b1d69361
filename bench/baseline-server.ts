import http from 'node:http';
import { Pool } from 'pg';
import sqlite3 from 'sqlite3';

/** The row the baseline returns: the same columns the GraphQL scenario selects. */
interface Row {
  id: string;
  name: string;
  job_title: string | null;
  version: number;
  updated_at: string;
}

/** One user update: what the stack costs at the least (no framework, no validation, no authentication). */
type Update = (id: string, name: string, jobTitle: string, now: string) => Promise<Row | undefined>;

/**
 * sqlite3 as it comes (no `verbose()`) on one connection in WAL mode with `synchronous = FULL`, as the
 * server runs: each request's UPDATE is its own transaction, committed (and its WAL frame synced) before
 * the prepared SELECT reads the row back.
 */
async function sqliteUpdate(file: string): Promise<Update> {
  const db = new sqlite3.Database(file);
  db.configure('busyTimeout', 5000);
  const get = (sql: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      db.get(sql, (error, row) => (error ? reject(error) : resolve(row as Record<string, unknown>))),
    );
  await get('PRAGMA journal_mode = WAL');
  await get('PRAGMA synchronous = FULL');
  const { synchronous } = await get('PRAGMA synchronous');
  if (synchronous !== 2) throw new Error(`PRAGMA synchronous is ${synchronous}, not FULL (2)`);
  const update = db.prepare(
    'UPDATE users SET name = ?, job_title = ?, updated_at = ?, version = version + 1 WHERE id = ?',
  );
  const select = db.prepare('SELECT id, name, job_title, version, updated_at FROM users WHERE id = ?');
  return (id, name, jobTitle, now) =>
    new Promise((resolve, reject) => {
      update.run([name, jobTitle, now, id], (error) => {
        if (error) return reject(error);
        // `all`, not `get`: `get` stops after the first row and leaves the statement, and so a read
        // transaction, open until the next call; a write from another connection in between (the
        // server, measured in turn on the same file) would then fail here with SQLITE_BUSY.
        select.all([id], (error2, rows) => (error2 ? reject(error2) : resolve(rows[0] as Row | undefined)));
      });
    });
}

/** A pg pool (the server's size) and one prepared `UPDATE … RETURNING` per request. */
function postgresUpdate(url: string): Update {
  const pool = new Pool({ connectionString: url, max: 10 });
  return async (id, name, jobTitle, now) => {
    const result = await pool.query<Row>({
      name: 'baseline-update',
      text:
        'UPDATE users SET name = $1, job_title = $2, updated_at = $3, version = version + 1 WHERE id = $4 ' +
        'RETURNING id, name, job_title, version, updated_at',
      values: [name, jobTitle, now, id],
    });
    return result.rows[0];
  };
}

function reply(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** `POST /users/{id}` with `{ name, jobTitle }` on bare node:http: the limit the benchmark compares against. */
async function main(): Promise<void> {
  const url = process.env.DATABASE_URL ?? '';
  const update = url.startsWith('sqlite:')
    ? await sqliteUpdate(url.slice('sqlite:'.length))
    : postgresUpdate(url);
  const server = http.createServer((req, res) => {
    const match = /^\/users\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) return reply(res, 404, { error: 'not found' });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let input: { name?: unknown; jobTitle?: unknown };
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(res, 400, { error: 'malformed JSON' });
      }
      update(match[1], String(input.name), String(input.jobTitle), new Date().toISOString()).then(
        (row) =>
          row
            ? reply(res, 200, {
                id: row.id,
                name: row.name,
                jobTitle: row.job_title,
                version: row.version,
                updatedAt: row.updated_at,
              })
            : reply(res, 404, { error: 'not found' }),
        (error) => {
          console.error(error);
          reply(res, 500, { error: 'internal', message: String((error as Error)?.message ?? error) });
        },
      );
    });
  });
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    console.log(`baseline listening on http://127.0.0.1:${port}`);
  });
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

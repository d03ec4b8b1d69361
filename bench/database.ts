import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';

/** A throwaway database for one benchmark: a SQLite file in the run's temp dir, or a fresh PostgreSQL schema. */
export interface BenchDatabase {
  kind: 'sqlite' | 'postgres';
  /** DATABASE_URL for the server, the baseline and the migrations. */
  url: string;
  /** The SQLite file, or the PostgreSQL URL of the schema (search_path set). */
  location: string;
  /** DATA_DIR for the server (nothing is written there: JWT_SECRET is passed). */
  dataDir: string;
  /** For progress lines: the file, or the schema (never the URL, which may hold a password). */
  where: string;
  /** The PostgreSQL schema (what PostGraphile exposes); undefined on SQLite. */
  schema?: string;
  drop(): Promise<void>;
}

/** A postgres:// DATABASE_URL selects PostgreSQL; anything else (or nothing) means a temp SQLite file. */
export function postgresBaseUrl(env: NodeJS.ProcessEnv = process.env): string | null {
  const url = env.DATABASE_URL;
  return url && /^postgres(ql)?:\/\//.test(url) ? url : null;
}

/** Creates the database in `tempRoot/<label>`; `drop()` removes the file or the schema. */
export async function createBenchDatabase(tempRoot: string, label: string): Promise<BenchDatabase> {
  const dataDir = path.join(tempRoot, label);
  fs.mkdirSync(dataDir, { recursive: true });
  const base = postgresBaseUrl();
  if (!base) {
    const file = path.join(dataDir, 'users.sqlite');
    return {
      kind: 'sqlite',
      url: `sqlite:${file}`,
      location: file,
      dataDir,
      where: file,
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const schema = `bench_${label.replace(/\W/g, '_')}_${crypto.randomBytes(5).toString('hex')}`;
  await withClient(base, (client) => client.query(`CREATE SCHEMA ${schema}`));
  const separator = base.includes('?') ? '&' : '?';
  const url = `${base}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  let dropped = false;
  return {
    kind: 'postgres',
    url,
    location: url,
    dataDir,
    where: `schema ${schema}`,
    schema,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withClient(base, (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

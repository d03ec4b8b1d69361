import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

/** A throwaway database for one test file: a temp SQLite file, or a fresh PostgreSQL schema. */
export interface TestDatabase {
  /** DATABASE_URL for the server and the CLI. */
  url: string;
  /** DATA_DIR (generated secrets live there). */
  dataDir: string;
  kind: 'sqlite' | 'postgres';
  drop(): Promise<void>;
}

export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);

export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-test-'));
  const base = process.env.TEST_DATABASE_URL;
  if (!base) {
    return {
      url: `sqlite:${path.join(dataDir, 'users.sqlite')}`,
      dataDir,
      kind: 'sqlite',
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const separator = base.includes('?') ? '&' : '?';
  return {
    url: `${base}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    dataDir,
    kind: 'postgres',
    drop: async () => {
      const client = new Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

import 'reflect-metadata';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createServices } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import { User } from '../../src/entities/user.entity';
import { Fixtures, TEST_JWT_SECRET, type World } from './fixtures';

/** A throwaway database for one test file, copied from a template the run built once. */
export interface TestDatabase {
  /** DATABASE_URL for the server and the CLI. */
  url: string;
  /** DATA_DIR (generated secrets live there). */
  dataDir: string;
  kind: 'sqlite' | 'postgres';
  drop(): Promise<void>;
}

/** What a suite starts from: nothing (a first start), migrated, or migrated with `Fixtures.world()` in it. */
export type Template = 'empty' | 'migrated' | 'world';

/** The environment every test server runs with, before a suite's own settings. */
export function testEnv(
  database: TestDatabase,
  extraEnv: Record<string, string> = {},
): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    DATA_DIR: database.dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    // Budgets are off unless a test is about them: the suite sends many requests from one address.
    RATE_LIMIT_PER_MINUTE: '0',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '0',
    ...extraEnv,
  };
}

export const usingPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** Set by the global setup for the workers: where this run's templates are. */
const TEMPLATES_ENV = 'USERS_API_TEST_TEMPLATES';

interface TemplateIndex {
  /** SQLite: template files; PostgreSQL: template database names. */
  migrated: string;
  world: string;
  /** The world seeded into the `world` template, as `Fixtures.world()` returned it. */
  worldValue: unknown;
}

function postgresUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withPostgres<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Names made here only: letters, digits and `_`, so they can stand quoted in DDL. */
const databaseName = (prefix: string) => `${prefix}_${crypto.randomBytes(6).toString('hex')}`;

/** Migrates the database at `url` and, when asked, seeds the world into it. */
async function prepare(url: string, dataDir: string, seedWorld: boolean): Promise<World | undefined> {
  const config = loadConfig({
    DATABASE_URL: url,
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'test',
  });
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
    if (!seedWorld) return undefined;
    const services = createServices(config, dataSource);
    try {
      return await new Fixtures(services).world();
    } finally {
      await services.db.close();
    }
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Ends every connection to a PostgreSQL test database from the server's side, as a database restart
 * does, and waits until they are gone. Returns how many there were.
 */
export async function endConnections(database: TestDatabase): Promise<number> {
  if (database.kind !== 'postgres') throw new Error('endConnections needs a PostgreSQL test database');
  const name = new URL(database.url).pathname.slice(1);
  return withPostgres(async (client) => {
    const ended = await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1',
      [name],
    );
    for (let waited = 0; ; waited += 20) {
      const left = await client.query('SELECT 1 FROM pg_stat_activity WHERE datname = $1', [name]);
      if (left.rowCount === 0) return ended.rowCount ?? 0;
      if (waited > 5000) throw new Error(`${left.rowCount} connections to ${name} did not end`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/**
 * Builds this run's two templates (global setup): migrations and seeding are paid once per run, and
 * each suite starts from a copy (SQLite: the file; PostgreSQL: `CREATE DATABASE … TEMPLATE`).
 */
export async function buildTemplates(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-templates-'));
  let index: TemplateIndex;
  if (!usingPostgres) {
    const migrated = path.join(dir, 'migrated.sqlite');
    const world = path.join(dir, 'world.sqlite');
    await prepare(`sqlite:${migrated}`, dir, false);
    fs.copyFileSync(migrated, world);
    const worldValue = await prepare(`sqlite:${world}`, dir, true);
    index = { migrated, world, worldValue };
  } else {
    const migrated = databaseName('users_api_template');
    const world = databaseName('users_api_template');
    await withPostgres(async (client) => {
      await client.query(`CREATE DATABASE "${migrated}"`);
    });
    await prepare(postgresUrl(process.env.TEST_DATABASE_URL!, migrated), dir, false);
    await withPostgres((client) => client.query(`CREATE DATABASE "${world}" TEMPLATE "${migrated}"`));
    const worldValue = await prepare(postgresUrl(process.env.TEST_DATABASE_URL!, world), dir, true);
    index = { migrated, world, worldValue };
  }
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  process.env[TEMPLATES_ENV] = dir;
}

/** Removes the templates (global teardown). */
export async function dropTemplates(): Promise<void> {
  const dir = process.env[TEMPLATES_ENV];
  if (!dir) return;
  const index = templateIndex();
  if (usingPostgres) {
    await withPostgres(async (client) => {
      for (const name of [index.world, index.migrated])
        await client.query(`DROP DATABASE IF EXISTS "${name}"`);
    });
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function templateIndex(): TemplateIndex {
  const dir = process.env[TEMPLATES_ENV];
  if (!dir) throw new Error(`${TEMPLATES_ENV} is not set: the tests' global setup builds the templates`);
  return JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as TemplateIndex;
}

/** The world the `world` template holds, with its users as entities. */
export function templateWorld(): World {
  const value = templateIndex().worldValue as Record<string, unknown>;
  const world = { ...value } as Record<string, unknown>;
  for (const [name, field] of Object.entries(value)) {
    if (field && typeof field === 'object') world[name] = Object.assign(new User(), field);
  }
  return world as unknown as World;
}

/** A new database for one suite, copied from `template`. */
export async function createTestDatabase(template: Template = 'migrated'): Promise<TestDatabase> {
  const index = templateIndex();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-test-'));
  if (!usingPostgres) {
    const file = path.join(dataDir, 'users.sqlite');
    if (template !== 'empty') fs.copyFileSync(index[template], file);
    return {
      url: `sqlite:${file}`,
      dataDir,
      kind: 'sqlite',
      drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = databaseName('users_api_test');
  await withPostgres(async (client) => {
    // Two copies of one template at the same moment can be refused ("being accessed by other users").
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(
          template === 'empty'
            ? `CREATE DATABASE "${name}"`
            : `CREATE DATABASE "${name}" TEMPLATE "${index[template]}"`,
        );
        return;
      } catch (error) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  return {
    url: postgresUrl(process.env.TEST_DATABASE_URL!, name),
    dataDir,
    kind: 'postgres',
    drop: async () => {
      await withPostgres((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

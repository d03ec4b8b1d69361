import crypto from 'node:crypto';
import path from 'node:path';
import { createBenchDatabase, type BenchDatabase } from './database';
import type { Fixtures } from './fixtures';
import { runLoad } from './load';
import type { LoadResult } from './load-worker';
import { migrate } from './migrate';
import type { BenchOptions } from './options';
import { type Listening, startListening } from './processes';
import type { ScenarioName } from './scenarios';
import { seed } from './seed';
import { startScriptNodeArgs } from './start-script';

const ROOT = path.resolve(__dirname, '..');

/** Everything a run creates, so the runner can remove it on any exit. */
export interface RunContext {
  options: BenchOptions;
  tempRoot: string;
  jwtSecret: string;
  /** Databases still to drop. */
  databases: Set<BenchDatabase>;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function newJwtSecret(): string {
  return crypto.randomBytes(48).toString('base64url');
}

/** A fresh database with the project's migrations and `users` seeded members. */
export async function prepareDatabase(
  run: RunContext,
  label: string,
  users: number,
): Promise<{ db: BenchDatabase; fixtures: Fixtures }> {
  const db = await createBenchDatabase(run.tempRoot, label);
  run.databases.add(db);
  const started = Date.now();
  await migrate(db, run.jwtSecret);
  const migrated = Date.now();
  const fixtures = await seed(db, {
    users,
    credentialUsers: run.options.credentialUsers,
    jwtSecret: run.jwtSecret,
  });
  const credentials = 1 + fixtures.members.length * 5;
  console.log(
    `seeded ${db.kind} "${label}": ${users.toLocaleString('en-US')} members + 1 admin, ` +
      `${credentials.toLocaleString('en-US')} credentials in ${seconds(Date.now() - migrated)} ` +
      `(migrations ${seconds(migrated - started)}) in ${db.where}`,
  );
  return { db, fixtures };
}

export async function dropDatabase(run: RunContext, db: BenchDatabase): Promise<void> {
  run.databases.delete(db);
  await db.drop();
}

export function baseEnv(): NodeJS.ProcessEnv {
  const { PATH, HOME, LANG, TMPDIR } = process.env;
  return Object.fromEntries(Object.entries({ PATH, HOME, LANG, TMPDIR }).filter(([, v]) => v !== undefined));
}

/** The server's Node arguments: `npm start`'s, then BENCH_NODE_ARGS. */
function serverNodeArgs(run: RunContext): string[] {
  return [...startScriptNodeArgs(), ...run.options.serverNodeArgs];
}

/** How the server is started, as printed above the table. */
export function serverCommand(run: RunContext): string {
  return ['node', ...serverNodeArgs(run), 'dist/src/main.js'].join(' ');
}

/**
 * The built server, started as `npm start` starts it; rate limits off so they do not cut the run short;
 * `env`: further settings.
 */
export function startServer(
  run: RunContext,
  db: BenchDatabase,
  env: NodeJS.ProcessEnv = {},
): Promise<Listening> {
  return startListening('server', [...serverNodeArgs(run), path.join(ROOT, 'dist/src/main.js')], {
    ...baseEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: db.url,
    DATA_DIR: db.dataDir,
    JWT_SECRET: run.jwtSecret,
    SEED_DEMO_DATA: 'false',
    RATE_LIMIT_PER_MINUTE: '0',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
}

/** The bare node:http baseline on the same database. */
export function startBaseline(db: BenchDatabase): Promise<Listening> {
  return startListening(
    'baseline',
    ['-r', '@swc-node/register', path.join(__dirname, 'baseline-server.ts')],
    {
      ...baseEnv(),
      NODE_ENV: 'production',
      PORT: '0',
      DATABASE_URL: db.url,
    },
  );
}

/** PostGraphile v5 on the same PostgreSQL schema (`postgraphile-peer.ts`): the peer of the PostgreSQL run. */
export function startPeer(db: BenchDatabase): Promise<Listening> {
  if (!db.schema) throw new Error('the PostGraphile peer runs on PostgreSQL only');
  return startListening(
    'postgraphile',
    ['-r', '@swc-node/register', path.join(__dirname, 'postgraphile-peer.ts')],
    {
      ...baseEnv(),
      NODE_ENV: 'production',
      PORT: '0',
      DATABASE_URL: db.url,
      BENCH_PG_SCHEMA: db.schema,
    },
  );
}

/**
 * A first pass over every scenario, discarded, before the first measurement: otherwise the first
 * scenario measured would also pay for compiling the code paths all the others share. Each process is
 * warmed up alike, so the baseline and the peer start as warm as the server.
 */
export async function warmUp(
  run: RunContext,
  passes: Array<{ target: Listening; names: ScenarioName[] }>,
  fixtures: Fixtures,
): Promise<void> {
  if (run.options.warmupSeconds === 0) return;
  process.stdout.write(`  warming up (${run.options.warmupSeconds} s of each scenario) … `);
  for (const { target, names } of passes) {
    for (const name of names) {
      await runLoad({
        url: target.url,
        scenario: name,
        fixtures,
        connections: run.options.connections,
        warmupSeconds: 0,
        durationSeconds: run.options.warmupSeconds,
      });
    }
  }
  console.log('done');
}

/** Warm-up, then the measured run of one scenario, with a progress line. */
export async function measure(
  run: RunContext,
  target: Listening,
  name: ScenarioName,
  fixtures: Fixtures,
): Promise<LoadResult> {
  process.stdout.write(`  ${name} … `);
  const result = await runLoad({
    url: target.url,
    scenario: name,
    fixtures,
    connections: run.options.connections,
    warmupSeconds: run.options.warmupSeconds,
    durationSeconds: run.options.durationSeconds,
  });
  console.log(`${Math.round(result.requestsPerSecond)} req/s`);
  return result;
}

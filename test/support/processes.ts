import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createServices, type Services } from '../../src/app';
import { runCli as runCliCommand } from '../../src/cli/main';
import { loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import { CredentialKind, Role } from '../../src/entities/enums';
import { builtEntry } from './build';
import { createTestDatabase, type TestDatabase, type Template, testEnv } from './database';
import { Fixtures } from './fixtures';

const ROOT = path.resolve(__dirname, '..', '..');
const LISTENING = /users-api listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** Every process started here, so that whatever a failed test leaves behind is killed after its file. */
const running = new Set<ChildProcess>();

/** The environment a spawned server (and the test's own data source) uses for `database`. */
export function serverEnv(database: TestDatabase): Record<string, string> {
  return testEnv(database, {
    PORT: '0',
    HOST: '127.0.0.1',
    SEED_DEMO_DATA: 'false',
    // RELIABILITY_LOG_LEVEL=error shows the spawned servers' errors in a failing test's output.
    LOG_LEVEL: process.env.RELIABILITY_LOG_LEVEL ?? 'silent',
  });
}

/** A process of the project's own code, started as an operator would start it. */
export interface Started {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves once the process has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs a TypeScript entry point of the project (`src/main.ts`, `src/cli/main.ts`) in its own process,
 * with `env` over this process's environment; names in `unset` are removed.
 */
export function startProcess(
  entry: string,
  args: string[],
  env: Record<string, string>,
  unset: string[] = [],
): Started {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const name of unset) delete childEnv[name];
  // The project's TypeScript entry points run from the run's build (build.ts); anything else as it is.
  const script = entry.startsWith('src/') ? builtEntry(entry) : entry;
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, output: () => output, exit };
}

/** Resolves with the first match of `pattern` in the output; rejects if the process exits first or time runs out. */
export function waitForOutput(
  started: Started,
  pattern: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(started.output());
      if (match) {
        cleanup();
        resolve(match);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output so far:\n${started.output()}`));
    }, timeoutMs);
    const onExit = () => {
      cleanup();
      reject(new Error(`process exited before printing ${pattern}; output:\n${started.output()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      started.child.stdout!.off('data', check);
      started.child.stderr!.off('data', check);
      started.child.off('exit', onExit);
    };
    started.child.stdout!.on('data', check);
    started.child.stderr!.on('data', check);
    started.child.once('exit', onExit);
    check();
  });
}

export interface SpawnedServer extends Started {
  url: string;
}

/** Starts `src/main.ts` on `database` and waits until it listens. */
export async function spawnServer(
  database: TestDatabase,
  options: { env?: Record<string, string>; unset?: string[]; timeoutMs?: number } = {},
): Promise<SpawnedServer> {
  const started = startProcess('src/main.ts', [], { ...serverEnv(database), ...options.env }, options.unset);
  const url = (await waitForOutput(started, LISTENING, options.timeoutMs ?? 60_000))[1];
  return { ...started, url };
}

/** SIGKILLs every process started here that is still running, and waits for them to go. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs an operator CLI command in this process, with `env` over this process's environment, its output
 * collected as an operator's pipes would (stderr is not a terminal): the code the CLI process runs
 * (src/cli/main.ts), without starting Node and loading the app for every command. What only a process
 * has (umask, signals, a closed stdout, the exit code reaching the shell) is tested with a started one.
 */
export async function runCli(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCliCommand(args, {
    env: { ...process.env, ...env },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    stderrIsTTY: false,
  });
  return { code, stdout, stderr };
}

/** `--json` output: exactly one JSON object on one line, nothing else. */
export function singleJsonObject(stdout: string): any {
  expect(stdout.endsWith('\n')).toBe(true);
  expect(stdout.trimEnd().split('\n')).toHaveLength(1);
  const value = JSON.parse(stdout);
  expect(typeof value).toBe('object');
  expect(Array.isArray(value)).toBe(false);
  expect(value).not.toBeNull();
  return value;
}

/** A data source and services of the test process itself, on a spawned server's database. */
export interface DirectDatabase {
  dataSource: DataSource;
  services: Services;
  fixtures: Fixtures;
  close(): Promise<void>;
}

/** Opens `database` (running migrations, as a server would) to seed it or inspect it. */
export async function openDatabase(database: TestDatabase): Promise<DirectDatabase> {
  const config = loadConfig(serverEnv(database));
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const services = createServices(config, dataSource);
  return {
    dataSource,
    services,
    fixtures: new Fixtures(services),
    close: async () => {
      // Closed by a test before a restart, then again after the suite: the second time is a no-op.
      if (!dataSource.isInitialized) return;
      await services.db.close();
      await dataSource.destroy();
    },
  };
}

/** A suite's database for servers in their own processes; `open()` gives the test its own view of it. */
export interface SpawnedDatabase {
  readonly database: TestDatabase;
  /** Opened once, closed after the suite (and before a restart, by the test, when it must be). */
  open(): Promise<DirectDatabase>;
}

/**
 * Gives a suite a database for spawned servers in one line, and registers the hooks that kill every
 * process the suite started and drop the database after it.
 */
export function useDatabase(template: Template = 'migrated'): SpawnedDatabase {
  let database: TestDatabase | undefined;
  const opened: DirectDatabase[] = [];
  beforeAll(async () => {
    database = await createTestDatabase(template);
  });
  afterAll(async () => {
    await killAll();
    for (const direct of opened) await direct.close();
    await database?.drop();
  });
  return {
    get database() {
      if (!database) throw new Error('useDatabase: the database is created in beforeAll');
      return database;
    },
    open: async () => {
      const direct = await openDatabase(database!);
      opened.push(direct);
      return direct;
    },
  };
}

/** An organization with an admin (PAT, API key, JWT) and `count` members with a PAT each. */
export async function seedOrganization(fixtures: Fixtures, count: number) {
  const orgId = await fixtures.org('Reliable');
  const admin = await fixtures.user(orgId, { role: Role.ADMIN, name: 'Ada Admin' });
  const adminPat = (await fixtures.token(admin.id)).token;
  const adminKey = (await fixtures.token(admin.id, CredentialKind.API_KEY)).token;
  const adminJwt = (await fixtures.token(admin.id, CredentialKind.JWT)).token;
  const members = [];
  members.push(
    ...(await Promise.all(
      Array.from({ length: count }, async () => {
        const user = await fixtures.user(orgId);
        return { user, pat: (await fixtures.token(user.id)).token };
      }),
    )),
  );
  return { orgId, admin, adminPat, adminKey, adminJwt, members };
}

/**
 * Seeds the suite's database with an organization (see seedOrganization), closes the test's own view of
 * it, and starts a server on it: a server that is alone with the database, as after a deployment.
 */
export async function seededServer(spawned: SpawnedDatabase, members: number) {
  const direct = await spawned.open();
  const seeded = await seedOrganization(direct.fixtures, members);
  await direct.close();
  return { ...seeded, server: await spawnServer(spawned.database) };
}

/** Kills whatever CLI or server processes a suite's failed test left behind (after every test file). */
afterAll(() => killAll());

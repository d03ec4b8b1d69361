import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createServices, type Services } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import { CredentialKind, Role } from '../../src/entities/enums';
import type { TestDatabase } from '../support/database';
import { Fixtures, TEST_JWT_SECRET } from '../support/harness';

const ROOT = path.resolve(__dirname, '../..');
const LISTENING = /users-api listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** The environment a spawned server (and the test's own data source) uses for `database`. */
export function serverEnv(database: TestDatabase): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    DATA_DIR: database.dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    SEED_DEMO_DATA: 'false',
    // RELIABILITY_LOG_LEVEL=error shows the spawned servers' errors in a failing test's output.
    LOG_LEVEL: process.env.RELIABILITY_LOG_LEVEL ?? 'silent',
    RATE_LIMIT_PER_MINUTE: '0',
    AUTH_FAILURE_LIMIT_PER_MINUTE: '0',
  };
}

/** A data source and services of the test process itself, on the spawned servers' database. */
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
      if (dataSource.isInitialized) await dataSource.destroy();
    },
  };
}

export interface SpawnedServer {
  child: ChildProcess;
  url: string;
  output(): string;
  /** Resolves once the process has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `src/main.ts` as an operator would, in its own process. Every process started here is
 * remembered so that `killAllServers` can SIGKILL whatever is left, even when a test failed.
 */
const running = new Set<ChildProcess>();

export async function spawnServer(database: TestDatabase, timeoutMs = 60_000): Promise<SpawnedServer> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...serverEnv(database) },
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
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`server did not start within ${timeoutMs} ms; output:\n${output}`));
    }, timeoutMs);
    const check = () => {
      const match = LISTENING.exec(output);
      if (match) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`server exited during start-up; output:\n${output}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout!.on('data', check);
    child.once('exit', onExit);
    check();
  });
  return { child, url, output: () => output, exit };
}

/** SIGKILLs every server this file started that is still running, and waits for them to go. */
export async function killAllServers(): Promise<void> {
  const exits = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(exits);
}

/** Resolves when `pattern` appears in the server's output. */
export function waitForOutput(server: SpawnedServer, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pattern.test(server.output())) {
        cleanup();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${pattern}; output:\n${server.output()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      server.child.stdout!.off('data', check);
    };
    server.child.stdout!.on('data', check);
    check();
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a connection of its own (no keep-alive pool), so that a failure is about this
 * request only: the promise rejects with the socket error (e.g. ECONNREFUSED) when there is one.
 */
export function rawRequest(
  url: string,
  method: string,
  pathname: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}${pathname}`,
      {
        method,
        agent: false,
        headers: {
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {}),
          ...headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A GraphQL operation over a connection of its own; see rawRequest. */
export async function rawGql(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ status: number; body: { data?: any; errors?: Array<{ message: string; extensions?: any }> } }> {
  const response = await rawRequest(
    url,
    'POST',
    '/graphql',
    { authorization: `Bearer ${token}` },
    JSON.stringify({ query, variables }),
  );
  return { status: response.status, body: JSON.parse(response.body) };
}

/** An organization with an admin (PAT, API key, JWT) and `count` members with a PAT each. */
export async function seedOrganization(fixtures: Fixtures, count: number) {
  const orgId = await fixtures.org('Reliable');
  const admin = await fixtures.user(orgId, { role: Role.ADMIN, name: 'Ada Admin' });
  const adminPat = (await fixtures.token(admin.id)).token;
  const adminKey = (await fixtures.token(admin.id, CredentialKind.API_KEY)).token;
  const adminJwt = (await fixtures.token(admin.id, CredentialKind.JWT)).token;
  const members = [];
  for (let i = 0; i < count; i++) {
    const user = await fixtures.user(orgId);
    members.push({ user, pat: (await fixtures.token(user.id)).token });
  }
  return { orgId, admin, adminPat, adminKey, adminJwt, members };
}

/** The network error code behind a failed request (fetch wraps it in `cause`). */
export function errorCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? String(error);
}

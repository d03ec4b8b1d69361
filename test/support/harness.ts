import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { type AppOptions, createApp, type Services } from '../../src/app';
import { type Config, loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import type { RouteTable } from '../../src/http/router';
import type { User } from '../../src/entities/user.entity';
import { createTestDatabase, type TestDatabase, type Template, templateWorld, testEnv } from './database';
import { Fixtures, type OrgAdmin, type World } from './fixtures';
import { type GqlResponse, gql, type RequestOptions, type RestResponse, send } from './http';
import { pollUntil } from './poll';

export { Fixtures, type OrgAdmin, TEST_JWT_SECRET, type TokenOptions, type World } from './fixtures';
export { bearer, gql, type GqlResponse } from './http';

export interface TestServer {
  url: string;
  config: Config;
  services: Services;
  /** The server's one route table. */
  routes: RouteTable;
  dataSource: DataSource;
  database: TestDatabase;
  /** Environment for a child process (CLI, server) that should use the same database. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Builds the app exactly as main does, on a throwaway database copied from `template`, listening on
 * 127.0.0.1 port 0. `appOptions` replaces the default (unexpected errors collected, not logged).
 */
export async function startServer(
  extraEnv: Record<string, string> = {},
  appOptions?: AppOptions,
  template: Template = 'migrated',
): Promise<TestServer> {
  const database = await createTestDatabase(template);
  const env = testEnv(database, extraEnv);
  const config = loadConfig(env);
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const errors: unknown[] = [];
  const { app, services, routes, stop, attach } = await createApp(
    config,
    dataSource,
    appOptions ?? { logError: (e) => errors.push(e) },
  );
  const server = http.createServer(app);
  const closeSubscriptions = attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    services,
    routes,
    dataSource,
    database,
    env,
    close: async () => {
      await closeSubscriptions();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await dataSource.destroy();
      await database.drop();
    },
  };
}

/**
 * Runs `body` against a server of its own started with `env` (and `appOptions`, see startServer), and
 * closes the server after, also when `body` fails.
 */
export async function withServer<T>(
  env: Record<string, string>,
  body: (server: TestServer) => Promise<T>,
  appOptions?: AppOptions,
): Promise<T> {
  const server = await startServer(env, appOptions);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

export interface UseAppOptions {
  /** Settings on top of the test defaults (budgets off, logs silent). */
  env?: Record<string, string>;
  /** Start from the template that holds `Fixtures.world()` (`app.world`). */
  world?: boolean;
  appOptions?: AppOptions;
}

/** A suite's running app; its properties are there from the suite's first test on. */
export interface TestApp {
  readonly url: string;
  readonly server: TestServer;
  readonly services: Services;
  readonly fixtures: Fixtures;
  /** Only with `world: true`. */
  readonly world: World;
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GqlResponse<T>>;
  send(method: string, pathname: string, options?: RequestOptions): Promise<RestResponse>;
  /** The stored row, read straight from the database. */
  stored(id: string): Promise<User>;
}

/**
 * Gives a suite its running app in one line (`const app = useApp({ world: true })`): registers the
 * hooks that start it before the suite's tests and close it after them.
 */
export function useApp(options: UseAppOptions = {}): TestApp {
  let running: { server: TestServer; fixtures: Fixtures; world?: World } | undefined;
  const current = () => {
    if (!running) throw new Error('useApp: the app starts in beforeAll; use it inside tests and hooks');
    return running;
  };
  beforeAll(async () => {
    const server = await startServer(options.env, options.appOptions, options.world ? 'world' : 'migrated');
    running = {
      server,
      fixtures: new Fixtures(server.services),
      world: options.world ? templateWorld() : undefined,
    };
  });
  afterAll(async () => {
    await running?.server.close();
    running = undefined;
  });
  return {
    get url() {
      return current().server.url;
    },
    get server() {
      return current().server;
    },
    get services() {
      return current().server.services;
    },
    get fixtures() {
      return current().fixtures;
    },
    get world() {
      const { world } = current();
      if (!world) throw new Error('useApp: pass { world: true } to get the world');
      return world;
    },
    gql: (query, variables, headers) => gql(current().server.url, query, variables, headers),
    send: (method, pathname, requestOptions) => send(current().server.url, method, pathname, requestOptions),
    stored: (id) => current().fixtures.stored(id),
  };
}

/**
 * Gives a suite an organization of its own with an admin and the admin's PAT (`Fixtures.orgAdmin`),
 * made in a beforeAll after `app`'s; its properties are there from the suite's first test on.
 */
export function useOrgAdmin(app: TestApp, orgName: string): OrgAdmin {
  const made = {} as OrgAdmin;
  beforeAll(async () => {
    Object.assign(made, await app.fixtures.orgAdmin(orgName));
  });
  return made;
}

/**
 * Runs `open`, then waits (10 s at most) until the app's event feed follows `count` subscriptions it
 * did not before. The feed adds one once it has read where it starts: a change made sooner could
 * commit before that, and would not be sent to it.
 */
export async function subscriptionsOpened<T>(app: TestApp, count: number, open: () => T): Promise<T> {
  const following = () => (app.services.feed as unknown as { listeners: Set<unknown> }).listeners;
  const before = new Set(following());
  const opened = open();
  await pollUntil(
    () => [...following()].filter((listener) => !before.has(listener)).length,
    (opening) => opening >= count,
    { failure: () => `subscriptionsOpened: not ${count} within 10 s` },
  );
  return opened;
}

export const USER_FIELDS = `id numericId uuid email emailVerified name username firstName lastName role status
  creditsBalance jobTitle companyName experiments projectsSortOrder timezone metadata createdAt updatedAt version
  organization { id name }`;

import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataSource } from 'typeorm';
import { type AppOptions, createApp, type Services } from '../../src/app';
import { operatorContext } from '../../src/auth/principal';
import { type Config, loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import { CredentialKind, Role } from '../../src/entities/enums';
import { User } from '../../src/entities/user.entity';
import { createTestDatabase, type TestDatabase } from './database';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestServer {
  url: string;
  config: Config;
  services: Services;
  dataSource: DataSource;
  database: TestDatabase;
  /** Environment for a child process (CLI, server) that should use the same database. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Builds the app exactly as main does, on a throwaway database, listening on 127.0.0.1 port 0.
 * `appOptions` replaces the default (unexpected errors collected, not logged), e.g. to capture log lines.
 */
export async function startServer(
  extraEnv: Record<string, string> = {},
  appOptions?: AppOptions,
): Promise<TestServer> {
  const database = await createTestDatabase();
  const env = {
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
  const config = loadConfig(env);
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const errors: unknown[] = [];
  const { app, services, stop } = await createApp(
    config,
    dataSource,
    appOptions ?? { logError: (e) => errors.push(e) },
  );
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    services,
    dataSource,
    database,
    env,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
      await dataSource.destroy();
      await database.drop();
    },
  };
}

export interface TokenOptions {
  scopes?: string[];
  expiresInSeconds?: number;
}

/** Creates users and credentials through the same services the operator CLI uses. */
export class Fixtures {
  private counter = 0;
  constructor(private readonly services: Services) {}

  async org(name = 'Org'): Promise<string> {
    return (await this.services.organizations.create(operatorContext(), name)).id;
  }

  async user(
    orgId: string,
    fields: { role?: Role; email?: string; name?: string; username?: string } = {},
  ): Promise<User> {
    this.counter += 1;
    return this.services.users.create(operatorContext(), {
      organizationId: orgId,
      email: fields.email ?? `user${this.counter}-${Date.now()}@example.com`,
      name: fields.name ?? `User ${this.counter}`,
      role: fields.role ?? Role.MEMBER,
      username: fields.username,
    });
  }

  async token(userId: string, kind = CredentialKind.PERSONAL_ACCESS_TOKEN, options: TokenOptions = {}) {
    const issued = await this.services.credentials.issue(operatorContext(), { userId, kind, ...options });
    return { id: issued.credential.id, token: issued.token };
  }

  /** An organization with an admin, a member and a viewer (each with a PAT), and a second organization. */
  async world() {
    const orgId = await this.org('Acme');
    const admin = await this.user(orgId, { role: Role.ADMIN, name: 'Ada Admin' });
    const member = await this.user(orgId, { role: Role.MEMBER, name: 'Max Member' });
    const viewer = await this.user(orgId, { role: Role.VIEWER, name: 'Vera Viewer' });
    const otherOrgId = await this.org('Other');
    const outsider = await this.user(otherOrgId, { role: Role.ADMIN, name: 'Olga Outsider' });
    return {
      orgId,
      otherOrgId,
      admin,
      member,
      viewer,
      outsider,
      adminToken: (await this.token(admin.id)).token,
      memberToken: (await this.token(member.id)).token,
      viewerToken: (await this.token(viewer.id)).token,
      outsiderToken: (await this.token(outsider.id)).token,
    };
  }

  /** The stored row, read straight from the database. */
  async stored(id: string): Promise<User> {
    return this.services.db.read((m) => m.getRepository(User).findOneByOrFail({ id }));
  }
}

export interface GqlResponse<T = any> {
  status: number;
  headers: Headers;
  body: {
    data?: T;
    errors?: Array<{ message: string; extensions?: Record<string, any> }>;
    extensions?: Record<string, any>;
  };
}

/** POSTs a GraphQL operation over real HTTP. */
export async function gql<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GqlResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as GqlResponse<T>['body'],
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export const USER_FIELDS = `id numericId uuid email emailVerified name username firstName lastName role status
  creditsBalance jobTitle companyName experiments projectsSortOrder timezone metadata createdAt updatedAt version
  organization { id name }`;

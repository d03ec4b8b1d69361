import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createDataSource } from '../../src/db/data-source';
import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { endConnections, usingPostgres } from '../support/database';
import { Fixtures, TestServer, bearer, gql, startServer, useApp, withServer } from '../support/harness';
import { send, type RestResponse } from '../rest/rest-support';
import {
  adminWithCredentials,
  credentialsFor,
  expectErrorShape,
  messageOf,
  restTargets,
} from './security-support';

const ME = '{ me { id } }';
const UPDATE_ME = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id jobTitle version } }';

/** A GraphQL request error (refused before execution): 400, the code given, nothing executed. */
function expectRefused(res: RestResponse, pattern: RegExp) {
  expect(res.status).toBe(400);
  expect(res.body.data ?? null).toBeNull();
  expect(res.body.errors?.map((e: { message: string }) => e.message).join(' | ')).toMatch(pattern);
}

/** What a client sees of an internal failure must say nothing about how the server is built. */
function expectNothingLeaks(res: RestResponse) {
  const text = JSON.stringify(res.body);
  expect(text).not.toMatch(
    /SQL|sqlite|postgres|SELECT |INSERT |UPDATE |relation "|no such|user_changes|TypeORM|QueryFailed|stack|\.ts:\d|\bat [\w.<>]+ \(|node_modules|Context creation/i,
  );
}

describe('resource limits', () => {
  const app = useApp({ world: true });

  const query = (text: string, headers = bearer(app.world.memberToken)) => gql(app.url, text, {}, headers);

  describe('GraphQL document limits (graphql-armor defaults)', () => {
    it('the defaults are depth 8, aliases 15, directives 20, tokens 1000, cost 5000', () => {
      expect(loadConfig({}).graphql).toMatchObject({
        maxDepth: 8,
        maxAliases: 15,
        maxDirectives: 20,
        maxTokens: 1000,
        maxCost: 5000,
      });
    });

    it('a query deeper than 8 is refused; one within the limit runs', async () => {
      const deep = `{ __type(name: "User") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }`;
      expectRefused(await query(deep), /depth limit of 8/i);
      // Named fragments add no depth of their own (clients build queries from them); what they select does.
      const fragments = `{ me { ...A } } fragment A on User { ...B } fragment B on User { ...C }
        fragment C on User { organization { id } }`;
      const throughFragments = await query(fragments, bearer(app.world.adminToken));
      expect(throughFragments.body.errors).toBeUndefined();
      expectRefused(
        await query(`{ __type(name: "User") { ...F } } fragment F on __Type { fields { type { ofType { ofType {
          ofType { ofType { ofType { ofType { name } } } } } } } } }`),
        /depth limit of 8/i,
      );
      const res = await query(
        '{ users { edges { node { organization { id } } } } }',
        bearer(app.world.adminToken),
      );
      expect(res.body.errors).toBeUndefined();
    });

    it('more than 15 aliases are refused; 15 run', async () => {
      const aliases = (n: number) =>
        `{ ${Array.from({ length: n }, (_, i) => `a${i}: me { id }`).join(' ')} }`;
      expectRefused(await query(aliases(16)), /aliases limit of 15/i);
      expect((await query(aliases(15))).body.errors).toBeUndefined();
    });

    it('more than 20 directives are refused; 20 run', async () => {
      const fields = [
        'id',
        'numericId',
        'uuid',
        'email',
        'emailVerified',
        'name',
        'username',
        'firstName',
        'lastName',
        'role',
        'status',
        'creditsBalance',
        'jobTitle',
        'companyName',
        'experiments',
        'projectsSortOrder',
        'timezone',
        'metadata',
        'createdAt',
        'updatedAt',
        'version',
      ];
      const directives = (n: number) =>
        `{ me { ${fields.map((f, i) => (i < n ? `${f} @include(if: true)` : f)).join(' ')} } }`;
      expectRefused(await query(directives(21)), /directives limit of 20/i);
      expect((await query(directives(20))).body.errors).toBeUndefined();
    });

    it('more than 1000 tokens are refused before parsing completes', async () => {
      expectRefused(
        await query(`{ me { ${'id '.repeat(1000)} } }`),
        /(more than|more that|limit of) 1000 tokens|token limit of 1000/i,
      );
    });

    it('a query costing more than 5000 is refused, even when it is short', async () => {
      const fragments = [
        'fragment F0 on User { id name email username firstName lastName jobTitle companyName }',
        'fragment F1 on User { ...F0 ...F0 ...F0 ...F0 ...F0 }',
        'fragment F2 on User { ...F1 ...F1 ...F1 ...F1 ...F1 }',
        'fragment F3 on User { ...F2 ...F2 ...F2 ...F2 ...F2 }',
      ].join('\n');
      const costly = `query { me { ...F3 } } ${fragments}`;
      expect(costly.length).toBeLessThan(1000);
      expectRefused(await query(costly), /cost limit of 5000/i);
    });
  });

  describe('field suggestions and introspection', () => {
    const typo = '{ me { nam } }';
    const introspection = '{ __schema { queryType { name } } }';
    const typeIntrospection = '{ __type(name: "User") { name fields { name } } }';

    it('in tests (not production) suggestions are shown and introspection is on', async () => {
      expectRefused(await query(typo), /Did you mean "name"/);
      const res = await query(introspection);
      expect(res.body.data.__schema.queryType.name).toBe('Query');
    });

    it('with NODE_ENV=production suggestions are hidden and introspection is off', () =>
      withServer({ NODE_ENV: 'production' }, async (production) => {
        const res = await gql(production.url, typo);
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body)).not.toMatch(/Did you mean/);
        for (const text of [introspection, typeIntrospection]) {
          expectRefused(await gql(production.url, text), /introspection/i);
        }
      }));

    it('GRAPHQL_FIELD_SUGGESTIONS=false hides suggestions outside production too, of enum values as well', () =>
      withServer({ GRAPHQL_FIELD_SUGGESTIONS: 'false' }, async (quiet) => {
        const res = await gql(quiet.url, typo);
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body)).not.toMatch(/Did you mean/);
        const enumTypo = 'mutation { updateMe(input: { projectsSortOrder: ADDED_AS }) { id } }';
        const inVariable = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }';
        for (const answer of [
          await gql(quiet.url, enumTypo),
          await gql(quiet.url, inVariable, { input: { projectsSortOrder: 'ADDED_AS' } }),
        ]) {
          expect(answer.body.errors?.length).toBeGreaterThan(0);
          expect(JSON.stringify(answer.body)).not.toMatch(/Did you mean/);
        }
        // Where suggestions are on, the same mistakes get them.
        expect(JSON.stringify((await query(enumTypo)).body)).toMatch(/Did you mean/);
      }));

    it('GRAPHQL_INTROSPECTION=true turns introspection on in production (suggestions stay hidden)', () =>
      withServer({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }, async (open) => {
        expect((await gql(open.url, introspection)).body.data.__schema.queryType.name).toBe('Query');
        expect(JSON.stringify((await gql(open.url, typo)).body)).not.toMatch(/Did you mean/);
      }));
  });

  describe('HTTP transport rules of /graphql', () => {
    it('a batched request (a JSON array) is refused and executes nothing', async () => {
      const before = await app.stored(app.world.member.id);
      const res = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(app.world.memberToken) },
        body: JSON.stringify([
          { query: ME },
          { query: UPDATE_ME, variables: { input: { jobTitle: 'batched' } } },
        ]),
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(/batch/i);
      expect(await app.stored(app.world.member.id)).toEqual(before);
    });

    it('a mutation over GET is refused with 405 and changes nothing', async () => {
      const before = await app.stored(app.world.member.id);
      const params = new URLSearchParams({
        query: UPDATE_ME,
        variables: JSON.stringify({ input: { jobTitle: 'via GET' } }),
      });
      const res = await fetch(`${app.url}/graphql?${params}`, {
        headers: { ...bearer(app.world.memberToken), 'apollo-require-preflight': 'true' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toMatch(/POST/);
      expect(await app.stored(app.world.member.id)).toEqual(before);
    });

    it('CSRF prevention: a GET query without a content type or preflight header is refused', async () => {
      const url = `${app.url}/graphql?query=${encodeURIComponent(ME)}`;
      const blocked = await fetch(url, { headers: bearer(app.world.memberToken) });
      expect(blocked.status).toBe(400);
      expect(await blocked.text()).toMatch(/Cross-Site Request Forgery|CSRF/i);
      const allowed = await fetch(url, {
        headers: { ...bearer(app.world.memberToken), 'x-apollo-operation-name': 'Me' },
      });
      expect(allowed.status).toBe(200);
    });

    it('CSRF prevention: a "simple" POST (text/plain, form) is refused and changes nothing', async () => {
      const before = await app.stored(app.world.member.id);
      const body = JSON.stringify({ query: UPDATE_ME, variables: { input: { jobTitle: 'csrf' } } });
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        const res = await fetch(`${app.url}/graphql`, {
          method: 'POST',
          headers: {
            'content-type': type,
            cookie: `jwt=${(await app.fixtures.token(app.world.member.id, CredentialKind.JWT)).token}`,
          },
          body,
        });
        // Refused as a cross-site request, not for some other reason.
        expect([type, res.status, await res.text()]).toEqual([
          type,
          400,
          expect.stringMatching(/Cross-Site Request Forgery/),
        ]);
      }
      expect(await app.stored(app.world.member.id)).toEqual(before);
    });
  });

  describe('errors are masked', () => {
    it('a broken data source yields INTERNAL_SERVER_ERROR without SQL or stack, on /graphql and REST', async () => {
      const throwaway = await startServer();
      try {
        const f = new Fixtures(throwaway.services);
        const { admin, credentials } = await adminWithCredentials(f);
        // A table the write path needs disappears: resolvers fail with a database error.
        await throwaway.dataSource.query('DROP TABLE user_changes');
        const before = await f.stored(admin.id);
        const write = await gql(
          throwaway.url,
          UPDATE_ME,
          { input: { jobTitle: 'boom' } },
          bearer(credentials.pat),
        );
        expect(write.body.errors?.[0]).toMatchObject({
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
        expect(Object.keys(write.body.errors?.[0].extensions ?? {})).toEqual(['code']);
        expectNothingLeaks(write);
        const history = await gql(
          throwaway.url,
          '{ userChanges(userId: "' + admin.id + '") { nodes { id } } }',
          {},
          bearer(credentials.pat),
        );
        expect(history.body.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
        expectNothingLeaks(history);
        for (const target of restTargets(credentials, admin)) {
          const res = await send(throwaway.url, target.method, target.path, {
            headers: target.headers,
            json: { [target.textField]: 'Changed' },
          });
          expectErrorShape(target.id, res, 500);
          expect(messageOf(res.body)).toMatch(/Internal server error/);
          expectNothingLeaks(res);
        }
        // The failed writes rolled back.
        expect(await f.stored(admin.id)).toEqual(before);

        // The data source itself goes away: authentication fails inside the context builder.
        await throwaway.dataSource.destroy();
        const me = await gql(throwaway.url, ME, {}, bearer(credentials.pat));
        expect(me.status).toBe(500);
        expect(me.body.errors?.[0]).toMatchObject({
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        });
        expectNothingLeaks(me);
        for (const target of restTargets(credentials, admin)) {
          const res = await send(throwaway.url, 'GET', target.path, { headers: target.headers });
          expectErrorShape(target.id, res, 500);
          expectNothingLeaks(res);
        }
      } finally {
        if (!throwaway.dataSource.isInitialized) await throwaway.dataSource.initialize();
        await throwaway.close();
      }
    });
  });

  describe('write rate limit per credential (RATE_LIMIT_PER_MINUTE=3)', () => {
    let limited: TestServer;
    let lf: Fixtures;
    let orgId: string;

    beforeAll(async () => {
      limited = await startServer({ RATE_LIMIT_PER_MINUTE: '3' });
      lf = new Fixtures(limited.services);
      orgId = await lf.org();
    });
    afterAll(() => limited.close());

    const expectBudget = (res: RestResponse, remaining: number) => {
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      expect(res.headers.get('ratelimit-remaining')).toBe(String(remaining));
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThanOrEqual(1);
      expect(reset).toBeLessThanOrEqual(60);
    };
    const expectRetryAfter = (res: RestResponse) => {
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
    };

    it('a replay under an Idempotency-Key spends no budget and repeats no old RateLimit headers, on GraphQL and REST', async () => {
      const user = await lf.user(orgId);
      const { token } = await lf.token(user.id);
      const keyed = (key: string) => ({ ...bearer(token), 'idempotency-key': key });
      const first = await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'once' } }, keyed('budget-gql'));
      expectBudget(first, 2);
      const rest = await send(limited.url, 'PUT', '/v2/user', {
        headers: keyed('budget-rest'),
        json: { name: 'Once Over REST' },
      });
      expectBudget(rest, 1);
      const replays = [
        await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'once' } }, keyed('budget-gql')),
        await send(limited.url, 'PUT', '/v2/user', {
          headers: keyed('budget-rest'),
          json: { name: 'Once Over REST' },
        }),
      ];
      for (const replay of replays) {
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(replay.headers.get('ratelimit-remaining')).toBeNull();
      }
      const next = await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'third' } }, bearer(token));
      expectBudget(next, 0);
    });

    it('a request for more writes than are left is refused and spends none; a mutation whose fields are all skipped costs nothing', async () => {
      const user = await lf.user(orgId);
      const { token } = await lf.token(user.id);
      expectBudget(await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'one' } }, bearer(token)), 2);
      const three = await gql(
        limited.url,
        `mutation { a: updateMe(input: { jobTitle: "a" }) { id } b: updateMe(input: { jobTitle: "b" }) { id }
          c: updateMe(input: { jobTitle: "c" }) { id } }`,
        {},
        bearer(token),
      );
      expect([three.status, three.body.errors?.[0].extensions?.code]).toEqual([429, 'RATE_LIMITED']);
      expect(three.headers.get('retry-after')).not.toBeNull();
      expect(three.headers.get('ratelimit-remaining')).toBe('2');
      const skipped = await gql(
        limited.url,
        'mutation { updateMe(input: { jobTitle: "never" }) @skip(if: true) { id } }',
        {},
        bearer(token),
      );
      expect([skipped.status, skipped.body]).toEqual([200, { data: {} }]);
      expect(skipped.headers.get('ratelimit-remaining')).toBeNull();
      expectBudget(await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'two' } }, bearer(token)), 1);
      expectBudget(await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'three' } }, bearer(token)), 0);
      expect((await lf.stored(user.id)).jobTitle).toBe('three');
    });

    it('GraphQL: mutations carry RateLimit headers; the 4th is 429 RATE_LIMITED with Retry-After and changes nothing', async () => {
      const user = await lf.user(orgId);
      const { token } = await lf.token(user.id);
      for (let i = 1; i <= 3; i++) {
        const res = await gql(limited.url, UPDATE_ME, { input: { jobTitle: `write ${i}` } }, bearer(token));
        expect(res.body.errors).toBeUndefined();
        expect(res.status).toBe(200);
        expectBudget(res, 3 - i);
      }
      const before = await lf.stored(user.id);
      const fourth = await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'write 4' } }, bearer(token));
      expect(fourth.status).toBe(429);
      expect(fourth.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      expect(fourth.body.data ?? null).toBeNull();
      expectRetryAfter(fourth);
      expect(await lf.stored(user.id)).toEqual(before);

      // Reads are not limited, on GraphQL or REST.
      for (let i = 0; i < 6; i++) {
        const read = await gql(limited.url, ME, {}, bearer(token));
        expect(read.status).toBe(200);
        expect(read.headers.get('retry-after')).toBeNull();
      }
      expect((await send(limited.url, 'GET', '/v2/user', { headers: bearer(token) })).status).toBe(200);

      // Another credential, even of the same user, has its own budget.
      const other = (await lf.token(user.id)).token;
      const res = await gql(
        limited.url,
        UPDATE_ME,
        { input: { jobTitle: 'other credential' } },
        bearer(other),
      );
      expect(res.status).toBe(200);
      expectBudget(res, 2);
    });

    it.each(['000', '001', '002', '003', '004'] as const)(
      'REST %s writes spend the same budget: RateLimit headers, then 429 in its error shape with Retry-After',
      async (id) => {
        const user = await lf.user(orgId, { role: Role.ADMIN });
        const target = restTargets(await credentialsFor(lf, user), user).find((t) => t.id === id)!;
        const body = (i: number) =>
          id === '003' ? { jobTitle: `w${i}` } : id === '002' ? { first_name: `w${i}` } : { name: `W ${i}` };
        for (let i = 1; i <= 3; i++) {
          const res = await send(limited.url, target.method, target.path, {
            headers: target.headers,
            json: body(i),
          });
          expect([id, res.status]).toEqual([id, 200]);
          expectBudget(res, 3 - i);
        }
        const before = await lf.stored(user.id);
        const fourth = await send(limited.url, target.method, target.path, {
          headers: target.headers,
          json: body(4),
        });
        expectErrorShape(id, fourth, 429);
        expectRetryAfter(fourth);
        expect(await lf.stored(user.id)).toEqual(before);
        const read = await send(limited.url, 'GET', target.path, { headers: target.headers });
        expect([id, read.status]).toEqual([id, 200]);
      },
    );

    it('an email change link opened with a credential whose budget is spent: 429 with Retry-After and RateLimit-*', async () => {
      const user = await lf.user(orgId);
      const { token } = await lf.token(user.id);
      for (let i = 1; i <= 3; i++)
        expectBudget(
          await gql(limited.url, UPDATE_ME, { input: { jobTitle: `w${i}` } }, bearer(token)),
          3 - i,
        );
      const link = await send(limited.url, 'GET', `/v1/email-change/confirm?token=${'A'.repeat(43)}`, {
        headers: bearer(token),
      });
      expect([link.status, link.body.error?.code]).toEqual([429, 'RATE_LIMITED']);
      expectBudget(link, 0);
      expectRetryAfter(link);
    });

    it('one credential has one budget across GraphQL and REST', async () => {
      const user = await lf.user(orgId);
      const { token } = await lf.token(user.id);
      await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'a' } }, bearer(token));
      await send(limited.url, 'PUT', '/v2/user', { headers: bearer(token), json: { name: 'B' } });
      const third = await send(limited.url, 'PATCH', `/api/v1/users/${user.id}`, {
        headers: bearer(token),
        json: { name: 'C' },
      });
      expect(third.status).toBe(200);
      expectBudget(third, 0);
      const fourth = await send(limited.url, 'PATCH', `/api/v1/users/${user.id}`, {
        headers: bearer(token),
        json: { name: 'D' },
      });
      expectErrorShape('004', fourth, 429);
      const graphql = await gql(limited.url, UPDATE_ME, { input: { jobTitle: 'e' } }, bearer(token));
      expect(graphql.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
      expect((await lf.stored(user.id)).name).toBe('C');
    });

    it('with RATE_LIMIT_PER_MINUTE=0 writes are not limited and carry no RateLimit headers', async () => {
      expect(app.server.config.rateLimit.writesPerMinute).toBe(0);
      expect(loadConfig({}).rateLimit.writesPerMinute).toBe(120);
      for (let i = 0; i < 8; i++) {
        const res = await gql(
          app.url,
          UPDATE_ME,
          { input: { jobTitle: `free ${i}` } },
          bearer(app.world.viewerToken),
        );
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBeNull();
      }
    });
  });

  describe('shared rate-limit store (RATE_LIMIT_STORE=postgres)', () => {
    /** These tests need PostgreSQL: on SQLite each says so and passes without running. */
    // The shared store lives in PostgreSQL: these run on the PostgreSQL pass (.ci/run runs both).
    const itOnPostgres = usingPostgres ? it : it.skip;
    itOnPostgres('two apps on the same PostgreSQL database share one write budget', async () => {
      const first = await startServer({ RATE_LIMIT_STORE: 'postgres', RATE_LIMIT_PER_MINUTE: '3' });
      const config = loadConfig(first.env);
      const dataSource = createDataSource(config);
      await dataSource.initialize();
      const second = await createApp(config, dataSource, { logError: () => undefined });
      const httpServer = http.createServer(second.app);
      await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
      const secondUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
      try {
        const f = new Fixtures(first.services);
        const user: User = await f.user(await f.org());
        const { token } = await f.token(user.id);
        const write = (url: string, jobTitle: string) =>
          gql(url, UPDATE_ME, { input: { jobTitle } }, bearer(token));
        expect((await write(first.url, 'one')).headers.get('ratelimit-remaining')).toBe('2');
        expect((await write(secondUrl, 'two')).headers.get('ratelimit-remaining')).toBe('1');
        expect((await write(first.url, 'three')).headers.get('ratelimit-remaining')).toBe('0');
        const refused = await write(secondUrl, 'four');
        expect(refused.status).toBe(429);
        expect(refused.body.errors?.[0].extensions?.code).toBe('RATE_LIMITED');
        expect((await write(first.url, 'five')).status).toBe(429);
        expect((await f.stored(user.id)).jobTitle).toBe('three');
      } finally {
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
        await second.stop();
        await dataSource.destroy();
        await first.close();
      }
    });

    itOnPostgres(
      'a store connection the database ends is replaced: the server lives on and the budget still counts',
      async () => {
        await withServer({ RATE_LIMIT_STORE: 'postgres', RATE_LIMIT_PER_MINUTE: '3' }, async (server) => {
          const f = new Fixtures(server.services);
          const user: User = await f.user(await f.org());
          const { token } = await f.token(user.id);
          const write = (jobTitle: string) =>
            gql(server.url, UPDATE_ME, { input: { jobTitle } }, bearer(token));
          expect((await write('one')).headers.get('ratelimit-remaining')).toBe('2');
          // The store's idle connection among them: unheard, its error would end the process (and fail this test).
          expect(await endConnections(server.database)).toBeGreaterThanOrEqual(2);
          await new Promise((resolve) => setTimeout(resolve, 100));
          const after = await write('two');
          expect(after.status).toBe(200);
          expect(after.headers.get('ratelimit-remaining')).toBe('1');
          expect((await f.stored(user.id)).jobTitle).toBe('two');
        });
      },
    );
  });
});

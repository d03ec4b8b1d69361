import { type Client, createClient } from 'graphql-ws';
import { Client as PgClient } from 'pg';
import WebSocket from 'ws';
import { operatorContext } from '../../src/auth/principal';
import { CredentialKind, Role } from '../../src/entities/enums';
import { RateLimitedError } from '../../src/errors/app-error';
import { encodeCursor } from '../../src/services/pagination';
import { type FeedEvent, type FeedFilter, UserEventFeed } from '../../src/services/user-event-feed';
import { usingPostgres } from '../support/database';
import { Fixtures } from '../support/fixtures';
import { bearer, subscriptionsOpened, useApp, withServer } from '../support/harness';
import { pollUntil } from '../support/poll';
import { seedOrganization, serverEnv, spawnServer, startProcess, useDatabase } from '../support/processes';

const USER_CHANGED = `subscription ($userId: ID, $after: Int) {
  userChanged(userId: $userId, after: $after) { id type version cursor userId user changes actor } }`;
const ORGANIZATION = `subscription ($after: String) { organizationUserChanges(after: $after) { type userId version cursor } }`;
const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { version } }`;

/** A graphql-ws client on `url` (http → ws), its credential in connection_init. */
function clientOf(url: string, connectionParams: Record<string, string> = {}): Client {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

async function waitFor(done: () => boolean): Promise<void> {
  await pollUntil(done, (held) => held, { failure: () => 'waitFor: not within 10 s' });
}

/** Subscribes, and collects what arrives; `done` says when enough did (10 s at most). */
function collect(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const results: any[] = [];
  const errors: unknown[] = [];
  let stop: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    stop = client.subscribe(
      { query, variables },
      {
        next: (value) => results.push(value),
        error: (error) => errors.push(error),
        complete: () => undefined,
      },
    );
    setTimeout(resolve, 150);
  });
  const events = () => results.map((r) => r.data && Object.values(r.data)[0]).filter(Boolean);
  // An error ends the wait too: the test then says what it expected instead.
  const until = async (done: (events: any[]) => boolean) => {
    await pollUntil(
      events,
      (arrived) => done(arrived) || errors.length > 0 || results.some((r) => r.errors),
      {
        failure: () => `subscription: ${results.length} results`,
      },
    );
  };
  return { started, until, events, results, errors, stop: () => stop() };
}

describe('subscriptions over graphql-ws', () => {
  const app = useApp({ env: { EVENT_POLL_INTERVAL_MS: '50', SUBSCRIPTION_RECHECK_INTERVAL_MS: '100' } });
  const clients: Client[] = [];
  const client = (params: Record<string, string> = {}) => {
    const made = clientOf(app.url, params);
    clients.push(made);
    return made;
  };
  afterAll(async () => {
    for (const made of clients) await made.dispose();
  });
  const opening = <T>(count: number, open: () => T) => subscriptionsOpened(app, count, open);
  /** `count` changes of the user's job title by the admin, fifty at a time. */
  const changeJobTitle = async (adminToken: string, userId: string, count: number) => {
    for (let start = 0; start < count; start += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, count - start) }, (_, i) =>
          app.gql(UPDATE_USER, { id: userId, input: { jobTitle: `Title ${start + i}` } }, bearer(adminToken)),
        ),
      );
  };

  it('userChanged sees a user’s own changes made over REST and GraphQL, in version order (rights: below)', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Live');
    const member = await app.fixtures.user(orgId);
    const memberToken = (await app.fixtures.token(member.id)).token;
    const sub = await opening(1, () =>
      collect(client({ authorization: `Bearer ${memberToken}` }), USER_CHANGED),
    );
    await app.send('PATCH', `/api/v1/users/${member.id}`, {
      headers: { authorization: `Bearer ${adminToken}` },
      json: { name: 'Live Over REST' },
    });
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Live' } }, bearer(adminToken));
    await sub.until((events) => events.length >= 2);
    expect(sub.errors).toEqual([]);
    expect(sub.events().map((e) => [e.type, e.version, e.userId])).toEqual([
      ['user.updated', 2, member.id],
      ['user.updated', 3, member.id],
    ]);
    expect(sub.events()[0].changes).toEqual({ name: { before: member.name, after: 'Live Over REST' } });
    sub.stop();

    // Resumable: after a version, the later ones first, then what comes.
    const resumed = await opening(1, () =>
      collect(client({ authorization: `Bearer ${memberToken}` }), USER_CHANGED, { after: 1 }),
    );
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Later' } }, bearer(adminToken));
    await resumed.until((events) => events.length >= 3);
    expect(resumed.events().map((e) => e.version)).toEqual([2, 3, 4]);
    resumed.stop();
  });

  it('a pending email reaches only its user and admins: another member following the user gets the event without it', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Pending seen');
    const mover = await app.fixtures.user(orgId);
    const moverToken = (await app.fixtures.token(mover.id)).token;
    const onlooker = (await app.fixtures.token((await app.fixtures.user(orgId)).id)).token;
    const watchers = await opening(3, () =>
      [moverToken, adminToken, onlooker].map((token) =>
        collect(client({ authorization: `Bearer ${token}` }), USER_CHANGED, { userId: mover.id }),
      ),
    );
    await app.gql(
      `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { pendingEmail } }`,
      { input: { email: 'moving.soon@example.com', jobTitle: 'Mover' } },
      bearer(moverToken),
    );
    for (const watcher of watchers) await watcher.until((events) => events.length >= 1);
    const [own, admin, other] = watchers.map((watcher) => watcher.events()[0].changes);
    expect(own.pendingEmail).toEqual({ before: null, after: 'moving.soon@example.com' });
    expect(admin.pendingEmail).toEqual(own.pendingEmail);
    expect(other).toEqual({ jobTitle: own.jobTitle });
    expect(JSON.stringify(other)).not.toContain('moving.soon');
    for (const watcher of watchers) watcher.stop();
  });

  it('the jwt cookie opens a connection only from this server’s own pages (or a client that sends no Origin)', async () => {
    const { admin } = await app.fixtures.orgAdmin('Cookie origin');
    const jwt = (await app.fixtures.token(admin.id, CredentialKind.JWT)).token;
    /** What the server answers connection_init with: ack, or the close code. */
    const opened = (headers: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(`${app.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', {
          headers,
        });
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
        socket.on('message', (data) => {
          resolve(JSON.parse(String(data)).type);
          socket.close();
        });
        socket.on('close', (code) => resolve(`closed ${code}`));
        socket.on('error', reject);
      });
    const cookie = { cookie: `jwt=${jwt}` };
    expect(await opened({ ...cookie, origin: 'https://elsewhere.example' })).toBe('closed 4403');
    expect(await opened({ ...cookie, origin: 'null' })).toBe('closed 4403');
    expect(await opened({ ...cookie, origin: new URL(app.url).origin })).toBe('connection_ack');
    expect(await opened(cookie)).toBe('connection_ack');
  });

  it('a subscriber that falls far behind is ended, told where to resume; the others get everything', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Slow reader');
    const member = await app.fixtures.user(orgId);
    const filter = { organizationId: orgId, userId: member.id, afterVersion: null };
    const slow = app.services.feed.subscribe('userChanged', filter)[Symbol.asyncIterator]();
    const steady = app.services.feed.subscribe('userChanged', filter)[Symbol.asyncIterator]();
    const versions: number[] = [];
    const [first, reading] = await opening(2, () => [
      slow.next(), // starts it, then takes nothing more
      (async () => {
        while (versions.length < 1100)
          versions.push(((await steady.next()).value as { userVersion: number }).userVersion);
      })(),
    ]);
    await changeJobTitle(adminToken, member.id, 1100);
    await reading;
    expect(versions).toEqual(Array.from({ length: 1100 }, (_, i) => i + 2));
    expect(((await first).value as { userVersion: number }).userVersion).toBe(2);
    let error: unknown;
    try {
      for (;;) if ((await slow.next()).done) break;
    } catch (thrown) {
      error = thrown;
    }
    expect(String((error as Error)?.message)).toMatch(
      /^The subscriber fell too far behind .*subscribe again with after: \d+/,
    );
    await steady.return?.();
  }, 60_000);

  it('over the socket, a subscriber ended for falling behind gets the feed’s RATE_LIMITED error, not a masked one', async () => {
    const { token } = await app.fixtures.orgWithUser('Told over the socket');
    // The feed's own error for a subscriber that fell behind (above), raised by a stream at once.
    const behind = new RateLimitedError(
      'The subscriber fell too far behind the events (a thousand waiting); subscribe again with after: 7 to get the rest',
      { 'Retry-After': '0' },
    );
    const spy = jest.spyOn(app.services.feed, 'subscribe').mockImplementation(() => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(behind) }),
    }));
    try {
      const sub = collect(client({ authorization: `Bearer ${token}` }), USER_CHANGED);
      await waitFor(() => sub.errors.length > 0);
      expect(sub.errors[0]).toEqual([
        { message: behind.message, extensions: { code: 'RATE_LIMITED', retryAfterSeconds: 0 } },
      ]);
    } finally {
      spy.mockRestore();
    }
  });

  it('resuming from far back sends every event since, in order, however many (read a page at a time)', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Long history');
    const member = await app.fixtures.user(orgId);
    const changes = 1200;
    await changeJobTitle(adminToken, member.id, changes);
    const organization = collect(client({ authorization: `Bearer ${adminToken}` }), ORGANIZATION, {
      after: encodeCursor('event', 0),
    });
    const user = collect(client({ authorization: `Bearer ${adminToken}` }), USER_CHANGED, {
      userId: member.id,
      after: 0,
    });
    await Promise.all([organization.started, user.started]);
    await user.until((events) => events.length >= changes + 1);
    const updates = (events: any[]) =>
      events.filter((e) => e.userId === member.id && e.type === 'user.updated');
    await organization.until((events) => updates(events).length >= changes);
    expect(user.errors).toEqual([]);
    const expected = Array.from({ length: changes }, (_, i) => i + 2);
    expect(user.events().map((e) => e.version)).toEqual([1, ...expected]); // created, then changed
    expect(organization.errors).toEqual([]);
    expect(updates(organization.events()).map((e) => e.version)).toEqual(expected);
    organization.stop();
    user.stop();
  }, 60_000);

  it('another organization’s user sends nothing; the organization stream is for admins; no credential, no connection', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Live rights');
    const other = await app.fixtures.orgWithUser('Elsewhere');
    const member = await app.fixtures.user(orgId, { role: Role.MEMBER });
    const memberToken = (await app.fixtures.token(member.id)).token;
    const colleague = await app.fixtures.user(orgId, { role: Role.MEMBER });
    const colleagueToken = (await app.fixtures.token(colleague.id)).token;
    await app.gql(
      UPDATE_USER,
      { id: member.id, input: { jobTitle: 'Before anyone followed' } },
      bearer(adminToken),
    );
    const [foreign, notAdmin, admin, anonymous, pastOfAnother, ownPast] = await opening(2, () => [
      collect(client({ authorization: `Bearer ${other.token}` }), USER_CHANGED, { userId: member.id }),
      collect(client({ authorization: `Bearer ${memberToken}` }), ORGANIZATION),
      collect(client({ authorization: `Bearer ${adminToken}` }), ORGANIZATION),
      collect(client(), USER_CHANGED),
      // Another user's past changes are their history, which only admins read (userChanges).
      collect(client({ authorization: `Bearer ${colleagueToken}` }), USER_CHANGED, {
        userId: member.id,
        after: 0,
      }),
      collect(client({ authorization: `Bearer ${memberToken}` }), USER_CHANGED, { after: 0 }),
    ]);
    await waitFor(
      () => notAdmin.results.length > 0 && anonymous.errors.length > 0 && pastOfAnother.results.length > 0,
    );
    expect(pastOfAnother.results.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['FORBIDDEN']);
    await ownPast.until((events) => events.length >= 2);
    expect(ownPast.events().map((e) => [e.type, e.version])).toEqual([
      ['user.created', 1],
      ['user.updated', 2],
    ]);
    ownPast.stop();
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Seen by admins' } }, bearer(adminToken));
    await admin.until((events) => events.length >= 1);
    expect(admin.events()).toEqual([
      expect.objectContaining({ type: 'user.updated', userId: member.id, version: 3 }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(foreign.events()).toEqual([]);
    expect(notAdmin.results.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(anonymous.errors).toHaveLength(1);
    expect((anonymous.errors[0] as { code?: number }).code).toBe(4403);
    for (const sub of [foreign, admin]) sub.stop();

    // The organization stream resumes after an event's cursor.
    const cursor = admin.events()[0].cursor;
    await app.gql(
      UPDATE_USER,
      { id: member.id, input: { jobTitle: 'After the cursor' } },
      bearer(adminToken),
    );
    const resumed = collect(client({ authorization: `Bearer ${adminToken}` }), ORGANIZATION, {
      after: cursor,
    });
    await resumed.until((events) => events.length >= 1);
    expect(resumed.events().map((e) => e.version)).toEqual([4]);
    resumed.stop();
  });

  it('a user id no user could have (a NUL byte) is NOT_FOUND, on either database', async () => {
    const { adminToken } = await app.fixtures.orgAdmin('Impossible id');
    const sub = collect(client({ authorization: `Bearer ${adminToken}` }), USER_CHANGED, {
      userId: 'usr_\u0000',
    });
    await waitFor(() => sub.results.length > 0 || sub.errors.length > 0);
    expect(sub.results.map((r) => r.errors?.[0]?.extensions?.code)).toEqual(['NOT_FOUND']);
    sub.stop();
  });

  it('an open subscription ends (4403) when its credential is revoked or its user’s rights change, and lasts while they hold', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Live checked');
    const member = await app.fixtures.user(orgId, { role: Role.MEMBER });
    const revoked = await app.fixtures.token(member.id);
    const kept = await app.fixtures.token(member.id);
    const second = await app.fixtures.user(orgId, { role: Role.ADMIN });
    const secondToken = (await app.fixtures.token(second.id)).token;
    const [onRevoked, onKept, demoted] = await opening(3, () => [
      collect(client({ authorization: `Bearer ${revoked.token}` }), USER_CHANGED),
      collect(client({ authorization: `Bearer ${kept.token}` }), USER_CHANGED),
      collect(client({ authorization: `Bearer ${secondToken}` }), ORGANIZATION),
    ]);

    await app.services.credentials.revoke(operatorContext(), revoked.id);
    const demotion = await app.gql(
      UPDATE_USER,
      { id: second.id, input: { role: 'MEMBER' } },
      bearer(adminToken),
    );
    expect(demotion.body.errors).toBeUndefined();
    await waitFor(() => onRevoked.errors.length > 0 && demoted.errors.length > 0);
    expect((onRevoked.errors[0] as { code?: number }).code).toBe(4403);
    expect((demoted.errors[0] as { code?: number }).code).toBe(4403);

    // Several checks later the other credential's subscription still gets what happens.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Still watched' } }, bearer(adminToken));
    await onKept.until((events) => events.length >= 1);
    expect(onKept.errors).toEqual([]);
    expect(onKept.events().map((e) => e.version)).toEqual([2]);
    onKept.stop();
  });
});

describe('subscriptions: how many', () => {
  const app = useApp({
    env: {
      SUBSCRIPTION_MAX_CONNECTIONS_PER_CREDENTIAL: '2',
      SUBSCRIPTION_MAX_PER_CONNECTION: '2',
      GRAPHQL_FIELD_SUGGESTIONS: 'false',
    },
  });
  const clients: Client[] = [];
  afterAll(async () => {
    for (const made of clients) await made.dispose();
  });

  it('a credential opens at most so many connections per process (1013, try again later); a connection carries at most so many subscriptions (RATE_LIMITED)', async () => {
    const { token } = await app.fixtures.orgWithUser('Limits');
    clients.push(...[1, 2, 3].map(() => clientOf(app.url, { authorization: `Bearer ${token}` })));
    const subs = clients.map((made) => collect(made, USER_CHANGED));
    await Promise.all(subs.map((sub) => sub.started));
    await waitFor(() => subs.some((sub) => sub.errors.length > 0));
    const refused = subs.filter((sub) => sub.errors.length > 0);
    expect(refused.map((sub) => (sub.errors[0] as { code?: number }).code)).toEqual([1013]);

    const connected = clients[subs.indexOf(subs.find((sub) => sub.errors.length === 0)!)];
    const second = collect(connected, USER_CHANGED);
    const third = collect(connected, USER_CHANGED);
    await Promise.all([second.started, third.started]);
    await waitFor(() => third.errors.length > 0);
    expect(second.errors).toEqual([]);
    expect((third.errors[0] as { extensions?: { code?: string } }[])[0].extensions?.code).toBe(
      'RATE_LIMITED',
    );
    // A connection that closes frees its place.
    for (const sub of subs) sub.stop();
    second.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    clients.push(clientOf(app.url, { authorization: `Bearer ${token}` }));
    // Opened means the app follows it: a refusal never gets there.
    const again = await subscriptionsOpened(app, 1, () => collect(clients[3], USER_CHANGED));
    expect(again.errors).toEqual([]);
    again.stop();
  });

  it('a connection closed while its credential is being checked takes no place', async () => {
    const { token } = await app.fixtures.orgWithUser('Closed early');
    for (let i = 0; i < 2; i++) {
      const socket = new WebSocket(`${app.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      socket.terminate();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const made = [1, 2].map(() => clientOf(app.url, { authorization: `Bearer ${token}` }));
    clients.push(...made);
    const subs = await subscriptionsOpened(app, 2, () => made.map((client) => collect(client, USER_CHANGED)));
    expect(subs.map((sub) => sub.errors)).toEqual([[], []]);
    for (const sub of subs) sub.stop();
  });

  it('with GRAPHQL_FIELD_SUGGESTIONS=false the socket suggests no names either, as HTTP does not', async () => {
    const { token } = await app.fixtures.orgWithUser('No suggestions');
    const client = clientOf(app.url, { authorization: `Bearer ${token}` });
    clients.push(client);
    const field = collect(client, 'subscription { userChange { id } }');
    await field.started;
    await waitFor(() => field.errors.length > 0);
    const type = collect(client, 'subscription ($a: In) { userChanged(after: $a) { id } }');
    await type.started;
    await waitFor(() => type.errors.length > 0);
    for (const refused of [field, type]) {
      const [error] = refused.errors[0] as { message: string; extensions?: { code?: string } }[];
      expect(error.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(error.message).not.toMatch(/Did you mean|Suggestion/);
    }
  });

  it('queries and mutations are refused over WebSocket (HTTP serves them, with its rate limits), and write nothing', async () => {
    const { token } = await app.fixtures.orgWithUser('No writes over WebSocket');
    const client = clientOf(app.url, { authorization: `Bearer ${token}` });
    clients.push(client);
    const mutation = collect(client, 'mutation { updateMe(input: { firstName: "Socket" }) { version } }');
    const query = collect(client, '{ me { version } }');
    await Promise.all([mutation.started, query.started]);
    await waitFor(() => mutation.errors.length > 0 && query.errors.length > 0);
    const first = (errors: unknown[]) =>
      (errors[0] as { message: string; extensions?: { code?: string } }[])[0];
    expect(first(mutation.errors)).toMatchObject({
      message: 'Only subscriptions are served over WebSocket; send mutations to POST /graphql',
      extensions: { code: 'BAD_REQUEST' },
    });
    expect(first(query.errors).message).toMatch(/send queries to POST \/graphql/);
    const me = await app.gql('{ me { firstName version } }', {}, bearer(token));
    expect(me.body.data.me).toEqual({ firstName: expect.not.stringMatching('Socket'), version: 1 });
  });

  it('a refused request carries the code HTTP gives the same mistake: parse, validation, operation, a variable of the wrong type', async () => {
    const { token } = await app.fixtures.orgWithUser('Coded refusals');
    const made = clientOf(app.url, { authorization: `Bearer ${token}` });
    clients.push(made);
    const refusal = async (query: string, variables: Record<string, unknown> = {}) => {
      const sub = collect(made, query, variables);
      await waitFor(() => sub.errors.length > 0 || sub.results.length > 0);
      expect(sub.results).toEqual([]);
      return (sub.errors[0] as { message: string; extensions?: { code?: string } }[])[0];
    };
    expect((await refusal('subscription { userChanged(')).extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect((await refusal('subscription { userChanged { nope } }')).extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
    const two = 'subscription A { userChanged { id } } subscription B { userChanged { id } }';
    expect(await refusal(two)).toMatchObject({
      message: 'Must provide operation name if query contains multiple operations.',
      extensions: { code: 'OPERATION_RESOLUTION_FAILURE' },
    });
    const wrongType = await refusal(USER_CHANGED, { after: 'abc' });
    expect(wrongType).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(wrongType.message).toMatch(/^Variable "\$after" got invalid value "abc"/);
    // Over HTTP the same variable is the same client error.
    const overHttp = await app.gql(
      'query ($n: Int!) { userByNumericId(numericId: $n) { id } }',
      { n: 'abc' },
      bearer(token),
    );
    expect(overHttp.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('a subscription whose stream fails ends with INTERNAL_SERVER_ERROR only, nothing of the database in it, and the error is logged', async () => {
    const logged: unknown[] = [];
    await withServer(
      {},
      async (server) => {
        const { token } = await new Fixtures(server.services).orgWithUser('Broken stream');
        const broken = clientOf(server.url, { authorization: `Bearer ${token}` });
        clients.push(broken);
        // The table the stream reads the past events from goes away.
        await server.dataSource.query('ALTER TABLE "user_events" RENAME TO "user_events_gone"');
        const sub = collect(broken, USER_CHANGED, { after: 0 });
        await waitFor(() => sub.errors.length > 0);
        expect(sub.errors[0]).toEqual([
          { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
        ]);
        expect(logged.map((error) => String((error as Error).message))).toEqual([
          expect.stringMatching(/user_events/),
        ]);
      },
      { logError: (error) => logged.push(error) },
    );
  });
});

(usingPostgres ? describe : describe.skip)('subscriptions: two processes on one PostgreSQL database', () => {
  const spawned = useDatabase();

  it('a subscriber of one process sees changes made through the other', async () => {
    const direct = await spawned.open();
    const { adminPat, members } = await seedOrganization(direct.fixtures, 1);
    await direct.close();
    const env = { EVENT_POLL_INTERVAL_MS: '50' };
    const [one, two] = await Promise.all([
      spawnServer(spawned.database, { env }),
      spawnServer(spawned.database, { env }),
    ]);
    const subscriber = clientOf(one.url, { authorization: `Bearer ${adminPat}` });
    try {
      // From the first event on: once the seeded users' events have arrived, the subscription is
      // live (its history is read after it is followed), so the change below comes through the
      // process's reading of what the other one commits.
      const sub = collect(subscriber, ORGANIZATION, { after: encodeCursor('event', 0) });
      await sub.until((events) => events.length >= 1);
      const res = await fetch(`${two.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminPat}` },
        body: JSON.stringify({
          query: UPDATE_USER,
          variables: { id: members[0].user.id, input: { jobTitle: 'Far' } },
        }),
      });
      expect(((await res.json()) as any).errors).toBeUndefined();
      const updates = () => sub.events().filter((event) => event.type === 'user.updated');
      await sub.until(() => updates().length >= 1);
      expect(updates()).toEqual([expect.objectContaining({ userId: members[0].user.id, version: 2 })]);
      sub.stop();
    } finally {
      await subscriber.dispose();
      for (const server of [one, two]) server.child.kill('SIGTERM');
      await Promise.all([one.exit, two.exit]);
    }
  }, 60_000);
});

(usingPostgres ? describe : describe.skip)('subscriptions: an event whose transaction commits late', () => {
  const app = useApp({ env: { EVENT_POLL_INTERVAL_MS: '50' } });

  /** Another session holding `userId`'s row, in a transaction the caller commits (holder.query('COMMIT')). */
  const holdRow = async (userId: string) => {
    const holder = new PgClient({
      connectionString: (app.services.db.dataSource.options as { url: string }).url,
    });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    return holder;
  };
  /**
   * An atomic call changing `userIds` in order: with the second one's row held, it takes an event number
   * for the first, then waits, while later changes commit later numbers.
   */
  const lateAtomicCall = (adminToken: string, userIds: string[]) =>
    app.gql(
      `mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items, atomic: true) { error { code } } }`,
      { items: userIds.map((id) => ({ id, input: { jobTitle: 'Late' } })) },
      bearer(adminToken),
    );
  /** Resolves once a statement waits on a held row (asked on another connection than the holder's). */
  const lockWaited = () =>
    pollUntil(
      async () =>
        Number(
          (
            await app.services.db.read((m) =>
              m.query(
                `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
              ),
            )
          )[0].n,
        ),
      (waiting) => waiting > 0,
      { failure: () => 'the atomic call never waited on the held row' },
    );

  it('reaches a subscriber that came after its number was taken but before it committed', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Late commit');
    const [slow, blocked, quick] = await Promise.all([1, 2, 3].map(() => app.fixtures.user(orgId)));
    const holder = await holdRow(blocked.id);
    try {
      const atomic = lateAtomicCall(adminToken, [slow.id, blocked.id]);
      await lockWaited();
      const later = await app.gql(
        UPDATE_USER,
        { id: quick.id, input: { jobTitle: 'Early' } },
        bearer(adminToken),
      );
      expect(later.body.errors).toBeUndefined();
      // The process's first subscriber starts after both numbers were taken.
      const client = clientOf(app.url, { authorization: `Bearer ${adminToken}` });
      try {
        const sub = await subscriptionsOpened(app, 1, () => collect(client, ORGANIZATION));
        // More than a page of events after the open gap still come at once, not when the gap is given up.
        for (let call = 0; call < 6; call++) {
          const items = Array.from({ length: 100 }, (_, n) => ({
            id: quick.id,
            input: { jobTitle: `T${call}-${n}` },
          }));
          const bulk = await app.gql(
            `mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items) { error { code } } }`,
            { items },
            bearer(adminToken),
          );
          expect(bulk.body.errors).toBeUndefined();
        }
        await sub.until((events) => events.length >= 600);
        expect(sub.events()).toHaveLength(600);
        await holder.query('COMMIT');
        expect((await atomic).body.data.updateUsers).toEqual([{ error: null }, { error: null }]);
        await sub.until((events) => events.length >= 602);
        expect(sub.errors).toEqual([]);
        const late = sub.events().slice(600);
        expect(late.map((event) => event.userId).sort()).toEqual([slow.id, blocked.id].sort());
        sub.stop();
      } finally {
        await client.dispose();
      }
    } finally {
      await holder.end();
    }
  });

  it('reaches a subscriber that came while the reader had not yet read past its number', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Late for the second');
    const [slow, blocked, quick] = await Promise.all([1, 2, 3].map(() => app.fixtures.user(orgId)));
    // A feed of the test's own, read only when told (written()), so that the second subscriber comes
    // after a later number committed and before the reader has read it.
    const feed = new UserEventFeed(app.services.db, 3_600_000);
    const listeners = () => (feed as unknown as { listeners: Set<unknown> }).listeners.size;
    const follow = (filter: FeedFilter) => {
      const events: FeedEvent[] = [];
      const iterator = feed.subscribe('', filter)[Symbol.asyncIterator]();
      const next = (): void =>
        void iterator.next().then((result) => !result.done && (events.push(result.value), next()));
      next();
      return { events, stop: () => iterator.return?.() };
    };
    const first = follow({ organizationId: orgId, afterSeq: null });
    await pollUntil(
      async () => listeners(),
      (count) => count === 1,
      { failure: () => 'not following' },
    );
    const holder = await holdRow(blocked.id);
    try {
      const atomic = lateAtomicCall(adminToken, [slow.id, blocked.id]);
      await lockWaited();
      expect(
        (await app.gql(UPDATE_USER, { id: quick.id, input: { jobTitle: 'Early' } }, bearer(adminToken))).body
          .errors,
      ).toBeUndefined();
      const second = follow({ organizationId: orgId, userId: slow.id, afterVersion: 1 });
      await pollUntil(
        async () => listeners(),
        (count) => count === 2,
        { failure: () => 'not following' },
      );
      // The reader reads the later number while the earlier one is still open.
      feed.written();
      await pollUntil(
        async () => first.events.length,
        (count) => count >= 1,
        { failure: () => 'no event' },
      );
      const early = first.events[0];
      expect(early.userId).toBe(quick.id);
      await holder.query('COMMIT');
      expect((await atomic).body.data.updateUsers).toEqual([{ error: null }, { error: null }]);
      feed.written();
      await pollUntil(
        async () => first.events.length,
        (count) => count >= 3,
        { failure: () => `${first.events.length} events` },
      );
      await pollUntil(
        async () => second.events.length,
        (count) => count >= 1,
        { failure: () => 'the late event did not come' },
      );
      expect(second.events.map((event) => [event.userId, event.userVersion])).toEqual([[slow.id, 2]]);
      // Resuming the organization's events after the early one misses neither late one.
      const slowSeq = first.events.find((event) => event.userId === slow.id)!.seq;
      expect(early.resumeSeq).toBeLessThan(slowSeq);
      const resumed = follow({ organizationId: orgId, afterSeq: early.resumeSeq! });
      await pollUntil(
        async () => resumed.events.length,
        (count) => count >= 3,
        { failure: () => `${resumed.events.length} resumed` },
      );
      expect(resumed.events.map((event) => event.userId).sort()).toEqual(
        [slow.id, blocked.id, quick.id].sort(),
      );
      await resumed.stop();
      await Promise.all([first.stop(), second.stop()]);
    } finally {
      feed.close();
      await holder.end();
    }
  });
});

describe('subscriptions: what the server writes stays JSON lines', () => {
  const spawned = useDatabase();

  it('a message over the size limit closes the socket (1009), one of a type only servers send 4400; neither writes a stack trace, nor does a port in use', async () => {
    const server = await spawnServer(spawned.database, { env: { LOG_LEVEL: 'info' } });
    /** The close code of a new connection after it sends `messages`. */
    const closeCodeAfter = (...messages: string[]) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
        socket.on('open', () => messages.forEach((message) => socket.send(message)));
        socket.on('close', (code) => resolve(code));
        socket.on('error', () => undefined);
        setTimeout(() => reject(new Error('the socket stayed open')), 10_000).unref();
      });
    try {
      expect(await closeCodeAfter('x'.repeat(200_000))).toBe(1009);
      // graphql-ws PROTOCOL.md: a message of a type not specified (for a client) closes with 4400.
      const ack = await closeCodeAfter(JSON.stringify({ type: 'connection_ack' }));
      const next = await closeCodeAfter(JSON.stringify({ type: 'next', id: '1', payload: {} }));
      const error = await closeCodeAfter(JSON.stringify({ type: 'error', id: '1', payload: [] }));
      expect({ ack, next, error }).toEqual({ ack: 4400, next: 4400, error: 4400 });
      // A second server on the same port cannot listen: it says so in one JSON line, and exits.
      const port = new URL(server.url).port;
      const second = startProcess('src/main.ts', [], {
        ...serverEnv(spawned.database),
        PORT: port,
        LOG_LEVEL: 'info',
      });
      expect((await second.exit).code).toBe(1);
      expect(second.output()).toMatch(/EADDRINUSE/);
      for (const output of [server.output(), second.output()]) {
        for (const line of output.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
        expect(output).not.toMatch(/"stack"|\n\s+at /);
      }
    } finally {
      server.child.kill('SIGTERM');
      await server.exit;
    }
  });
});

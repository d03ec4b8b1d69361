import crypto from 'node:crypto';
import net from 'node:net';
import { CredentialKind, Role } from '../../src/entities/enums';
import { createLogger } from '../../src/observability/logger';
import { TEST_JWT_SECRET, bearer, gql, useApp } from '../support/harness';
import { pollUntil } from '../support/poll';

interface LogLine {
  level: number;
  time: string;
  msg: string;
  requestId?: string;
  req?: { method: string; path: string };
  res?: { status: number };
  [key: string]: unknown;
}

describe('structured request logs', () => {
  const raw: string[] = [];
  let userId: string;
  let pat: string;
  let apiKey: string;
  let jwt: string;

  /** The server's own logger (same options as in production), writing into `raw`. */
  const destination = { write: (chunk: string) => void raw.push(...chunk.split('\n').filter(Boolean)) };
  const lines = (): LogLine[] => raw.map((text) => JSON.parse(text) as LogLine);
  /** The one line of the request with `requestId`, once written (5 s at most). */
  const requestLine = async (requestId: string) => {
    const found = await pollUntil(
      () => lines().filter((line) => line.requestId === requestId && line.req),
      (matching) => matching.length > 0,
      { timeoutMs: 5_000 },
    );
    expect(found).toHaveLength(1);
    return found[0];
  };
  /** pino-http writes its line when the response finishes, which may be just after the client has it. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  const app = useApp({
    env: { LOG_LEVEL: 'info' },
    appOptions: { logger: createLogger('info', destination) },
  });

  beforeAll(async () => {
    const { user, token } = await app.fixtures.orgWithUser('Logs', { role: Role.ADMIN, name: 'Logan Logs' });
    userId = user.id;
    pat = token;
    apiKey = (await app.fixtures.token(user.id, CredentialKind.API_KEY, { scopes: ['users:read'] })).token;
    jwt = (await app.fixtures.token(user.id, CredentialKind.JWT)).token;
  });
  afterAll(async () => {});

  it('writes one JSON line per request with the request id, method, path, status and time', async () => {
    const res = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': 'log-line-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('log-line-1');
    for (const text of raw) expect(() => JSON.parse(text)).not.toThrow();
    const line = await requestLine('log-line-1');
    expect(line).toMatchObject({
      level: 30,
      service: 'users-api',
      requestId: 'log-line-1',
      req: { method: 'GET', path: '/healthz' },
      res: { status: 200 },
      msg: 'GET /healthz 200',
      responseTime: expect.any(Number),
    });
    expect(Number.isNaN(Date.parse(line.time))).toBe(false);
  });

  it('generates a request id when none is sent, returns it, and logs it', async () => {
    const res = await gql(app.url, '{ me { id } }', {}, bearer(pat));
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await requestLine(id)).toMatchObject({
      req: { method: 'POST', path: '/graphql' },
      res: { status: 200 },
    });
  });

  it('replaces an invalid X-Request-Id (too long, odd characters) with a generated one', async () => {
    const invalid = ['x'.repeat(129), 'has space', 'semi;colon', 'a/b', '"quoted"', '<script>', '{"k":1}'];
    for (const sent of invalid) {
      const res = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': sent } });
      const got = res.headers.get('x-request-id')!;
      expect(got).not.toBe(sent);
      expect(got).toMatch(/^[0-9a-f-]{36}$/);
      expect((await requestLine(got)).req).toEqual({ method: 'GET', path: '/healthz' });
    }
    // The longest accepted id is 128 characters of letters, digits and . _ : -
    const longest = `a.b_c:d-${'9'.repeat(120)}`;
    const res = await fetch(`${app.url}/healthz`, { headers: { 'x-request-id': longest } });
    expect(res.headers.get('x-request-id')).toBe(longest);
    expect((await requestLine(longest)).res).toEqual({ status: 200 });
    const text = raw.join('\n');
    for (const sent of invalid) expect(text).not.toContain(sent);
  });

  it('every line that describes a request carries its request id, also for 4xx and unknown routes', async () => {
    await fetch(`${app.url}/no/such/route`);
    await fetch(`${app.url}/api/v1/users/${userId}`, { method: 'DELETE', headers: bearer(pat) });
    await gql(app.url, '{ me { id } }', {}, bearer('pat_unknown'));
    await settle();
    const requestLines = lines().filter((line) => line.req);
    expect(requestLines.length).toBeGreaterThanOrEqual(3);
    // Every line so far was written while serving a request, so every line names one.
    for (const line of lines()) expect(line.requestId).toEqual(expect.any(String));
    expect(requestLines.map((line) => line.res?.status)).toEqual(expect.arrayContaining([404, 405, 401]));
  });

  it('never logs a token, the JWT secret, credential headers, cookies, query strings or body content', async () => {
    const marker = `MARKER${crypto.randomBytes(6).toString('hex')}`;
    const unknownPat = `pat_${crypto.randomBytes(24).toString('base64url')}`;
    const before = raw.length;
    const requests = [
      // a successful change through GraphQL, carrying the marker as a name
      gql(
        app.url,
        'mutation ($n: String!) { updateMe(input: { name: $n }) { id } }',
        { n: `${marker} ok` },
        { ...bearer(pat), 'x-request-id': 'log-secret-ok' },
      ),
      // a bad credential
      gql(
        app.url,
        'mutation ($n: String!) { updateMe(input: { name: $n }) { id } }',
        { n: marker },
        {
          ...bearer(unknownPat),
          'x-request-id': 'log-secret-badcred',
        },
      ),
      // a validation error
      gql(
        app.url,
        'mutation ($e: String!) { updateMe(input: { email: $e }) { id } }',
        { e: `${marker}@@not-an-address` },
        { ...bearer(pat), 'x-request-id': 'log-secret-invalid' },
      ),
      // the JWT in a header and in a cookie, the API key in x-api-key
      gql(app.url, '{ me { id } }', {}, { 'x-jwt-token': jwt }),
      gql(app.url, '{ me { id } }', {}, { cookie: `jwt=${jwt}; other=${marker}` }),
      gql(app.url, '{ me { id } }', {}, { 'x-api-key': apiKey }),
      // REST: a success, a refused body, a malformed body, a token in the query string
      fetch(`${app.url}/api/v1/users/${userId}`, {
        method: 'PATCH',
        headers: { ...bearer(pat), 'content-type': 'application/json' },
        body: JSON.stringify({ name: `${marker} rest` }),
      }),
      fetch(`${app.url}/api/v1/users/${userId}`, {
        method: 'PATCH',
        headers: { ...bearer(pat), 'content-type': 'application/json' },
        body: JSON.stringify({ email: `${marker}@@`, nope: marker }),
      }),
      fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { ...bearer(pat), 'content-type': 'application/json' },
        body: `{"query": "${marker}`,
      }),
      fetch(`${app.url}/healthz?access_token=${pat}&q=${marker}`),
    ];
    const responses = await Promise.all(requests);
    const statuses = responses.map((r) => ('status' in r ? r.status : 0));
    // GraphQL answers a refused input with 200 and an error in the body.
    expect(statuses).toEqual([200, 401, 200, 200, 200, 200, 200, 400, 400, 200]);
    // Every request's line is written before the lines are searched for what must not be there.
    await pollUntil(
      () =>
        lines()
          .slice(before)
          .filter((line) => line.req).length,
      (written) => written >= requests.length,
      { timeoutMs: 5_000 },
    );

    const written = raw.slice(before);
    expect(written.length).toBeGreaterThanOrEqual(requests.length);
    const text = written.join('\n');
    for (const secret of [marker, pat, unknownPat, apiKey, jwt, TEST_JWT_SECRET, 'Bearer ']) {
      expect(text).not.toContain(secret);
    }
    // The JWT's signature and payload parts are not there on their own either.
    for (const part of jwt.split('.')) expect(text).not.toContain(part);
    expect(text).not.toMatch(/authorization|cookie|x-api-key|x-jwt-token/i);
    expect((await requestLine('log-secret-badcred')).res).toEqual({ status: 401 });
    expect(await requestLine('log-secret-invalid')).toMatchObject({
      res: { status: 200 },
      msg: 'POST /graphql 200',
    });
  });

  it('a persisted query the server does not take is the client’s BAD_REQUEST, not an error it logs', async () => {
    const before = raw.length;
    for (const [index, persistedQuery] of [{ version: 2 }, { version: 1, sha256Hash: 'abc' }].entries()) {
      const res = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `log-persisted-${index}` },
        body: JSON.stringify({ query: '{ me { id } }', extensions: { persistedQuery } }),
      });
      const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
      expect([res.status, body.errors?.[0].extensions?.code]).toEqual([400, 'BAD_REQUEST']);
    }
    await settle();
    expect(
      lines()
        .slice(before)
        .filter((line) => line.level >= 50),
    ).toEqual([]);
  });

  it('an unexpected error is logged at error level with its request id, without SQL parameters', async () => {
    const marker = `MARKER${crypto.randomBytes(6).toString('hex')}`;
    const before = raw.length;
    await app.services.db.write((m) => m.query('ALTER TABLE user_changes RENAME TO user_changes_moved'));
    let graphql;
    let rest;
    try {
      graphql = await gql(
        app.url,
        'mutation ($n: String!) { updateMe(input: { name: $n }) { id } }',
        { n: marker },
        { ...bearer(pat), 'x-request-id': 'log-unexpected-graphql' },
      );
      rest = await fetch(`${app.url}/api/v1/users/${userId}`, {
        method: 'PATCH',
        headers: {
          ...bearer(pat),
          'content-type': 'application/json',
          'x-request-id': 'log-unexpected-rest',
        },
        body: JSON.stringify({ name: `${marker} rest` }),
      });
    } finally {
      await app.services.db.write((m) => m.query('ALTER TABLE user_changes_moved RENAME TO user_changes'));
    }
    expect(graphql.body.errors?.[0].extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(rest.status).toBe(500);
    await settle();
    const errorLines = lines()
      .slice(before)
      .filter((line) => line.level >= 50);
    // The operator finds each failure by the id its client saw.
    expect(errorLines.map((line) => line.requestId).sort()).toEqual(
      expect.arrayContaining(['log-unexpected-graphql', 'log-unexpected-rest']),
    );
    for (const line of errorLines) expect(line.requestId).toMatch(/^log-unexpected-/);
    expect(errorLines.some((line) => JSON.stringify(line).includes('user_changes'))).toBe(true);
    expect(raw.join('\n')).not.toContain(marker);
    expect(raw.join('\n')).not.toContain(pat);
  });
  it('a request the client cuts off is logged as aborted and left out of the request metrics', async () => {
    const counted = async () => {
      const text = await (await fetch(`${app.url}/metrics`)).text();
      const found = /^http_requests_total\{method="POST",route="\/graphql",status="200"\} (\d+)$/m.exec(text);
      return found ? Number(found[1]) : 0;
    };
    const before = await counted();
    // Headers and half of the announced body, then the connection goes away.
    await new Promise<void>((resolve, reject) => {
      const { port } = new URL(app.url);
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
            'X-Request-Id: cut-off-1\r\nContent-Length: 100\r\n\r\n{"query":',
          () => setTimeout(() => socket.destroy(), 50),
        );
      });
      socket.on('error', reject);
      socket.on('close', () => resolve());
    });
    // Nothing was answered: no status, rather than the 200 a response starts with.
    expect(await requestLine('cut-off-1')).toMatchObject({
      req: { method: 'POST', path: '/graphql' },
      res: { status: null },
      aborted: true,
      msg: 'POST /graphql - (aborted)',
    });
    // The answered request of the same route is counted: the counter itself works.
    expect(await counted()).toBe(before);
    const res = await gql(app.url, '{ me { id } }', {}, bearer(pat));
    expect(res.status).toBe(200);
    await settle();
    expect(await counted()).toBe(before + 1);
  });
});

import { createLogger } from '../../src/observability/logger';
import net from 'node:net';
import { endConnections, usingPostgres } from '../support/database';
import { bearer, gql, useApp, useOrgAdmin } from '../support/harness';
import { pollUntil } from '../support/poll';
import { spawnServer, useDatabase } from '../support/processes';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition: `# HELP`/`# TYPE` lines and `name{label="v",…} value` samples. */
function parseMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    )) {
      labels[key] = value;
    }
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

describe('health, readiness and metrics', () => {
  let memberId: string;

  const scrape = async () => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };
  const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);

  const app = useApp();
  const org = useOrgAdmin(app, 'Metrics');

  beforeAll(async () => {
    memberId = (await app.fixtures.user(org.orgId)).id;
  });

  it('GET /healthz answers 200 while the process runs', async () => {
    const res = await fetch(`${app.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when the database answers', async () => {
    const res = await fetch(`${app.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('GET /metrics is Prometheus text with typed families', async () => {
    const { types, samples } = await scrape();
    expect(types.get('http_requests_total')).toBe('counter');
    expect(types.get('http_request_duration_seconds')).toBe('histogram');
    expect(types.get('graphql_operations_total')).toBe('counter');
    expect(types.get('db_pool_connections')).toBe('gauge');
    expect(types.get('process_cpu_seconds_total')).toBe('counter');
    expect(samples.length).toBeGreaterThan(20);
    for (const sample of samples) expect(Number.isNaN(sample.value)).toBe(false);
  });

  it('counts requests under their route template and status, never under raw ids', async () => {
    const route = '/api/v1/users/:id';
    const before = (await scrape()).samples;
    for (const name of ['Renamed Once', 'Renamed Twice']) {
      const res = await fetch(`${app.url}/api/v1/users/${memberId}`, {
        method: 'PATCH',
        headers: { ...bearer(org.adminToken), 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      expect(res.status).toBe(200);
    }
    const missing = await fetch(`${app.url}/api/v1/users/usr_doesnotexist000000`, {
      method: 'PATCH',
      headers: { ...bearer(org.adminToken), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Nobody' }),
    });
    expect(missing.status).toBe(404);
    await fetch(`${app.url}/no/such/${memberId}`);
    const after = (await scrape()).samples;

    const ok = { name: 'http_requests_total', labels: { method: 'PATCH', route, status: '200' } };
    expect(value(after, ok.name, ok.labels) - value(before, ok.name, ok.labels)).toBe(2);
    const notFound = { method: 'PATCH', route, status: '404' };
    expect(
      value(after, 'http_requests_total', notFound) - value(before, 'http_requests_total', notFound),
    ).toBe(1);

    // The latency histogram has the same labels: 2 observations more, buckets cumulative up to +Inf.
    const latency = { method: 'PATCH', route, status: '200' };
    const count = (s: Sample[]) => value(s, 'http_request_duration_seconds_count', latency);
    expect(count(after) - count(before)).toBe(2);
    const buckets = after.filter(
      (s) =>
        s.name === 'http_request_duration_seconds_bucket' &&
        s.labels.route === route &&
        s.labels.status === '200',
    );
    expect(buckets.map((b) => b.labels.le)).toContain('+Inf');
    expect(buckets.find((b) => b.labels.le === '+Inf')!.value).toBe(count(after));
    const cumulative = buckets.map((b) => b.value);
    expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b));
    expect(value(after, 'http_request_duration_seconds_sum', latency)).toBeGreaterThan(0);

    // No label value is a concrete URL: ids never become label values (unbounded cardinality).
    const routes = new Set(after.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route));
    for (const r of routes) expect(r).not.toMatch(/usr_|doesnotexist|such/);
    expect(routes).toContain('unmatched');
    expect(routes).toContain('/healthz');
  });

  it('counts GraphQL requests under /graphql and operations by root field, type and outcome', async () => {
    const before = (await scrape()).samples;
    await gql(app.url, 'query WhoAmI { me { id } }', {}, bearer(org.adminToken));
    await gql(app.url, 'query WhoAmI { me { id } }', {}, bearer(org.adminToken));
    await gql(
      app.url,
      'mutation Rename($id: ID!) { updateUser(id: $id, input: { name: "" }) { id } }',
      { id: memberId },
      bearer(org.adminToken),
    );
    await gql(app.url, '{ me { id } }', {}, bearer(org.adminToken));
    const after = (await scrape()).samples;
    const delta = (labels: Record<string, string>, name = 'graphql_operations_total') =>
      value(after, name, labels) - value(before, name, labels);

    // By the root field asked for: a name the schema bounds, not the client's operation name.
    expect(delta({ operation: 'me', type: 'query', outcome: 'ok' })).toBe(3);
    expect(delta({ operation: 'updateUser', type: 'mutation', outcome: 'error' })).toBe(1);
    for (let n = 0; n < 3; n++)
      await gql(app.url, `query MadeUp${n}${'x'.repeat(1000)} { __typename }`, {}, bearer(org.adminToken));
    await gql(app.url, '{ noSuchField }', {}, bearer(org.adminToken));
    const labels = (await scrape()).samples
      .filter((s) => s.name === 'graphql_operations_total')
      .map((s) => s.labels.operation);
    expect(labels.filter((label) => label.startsWith('MadeUp'))).toEqual([]);
    expect(labels).toEqual(expect.arrayContaining(['__typename', 'none']));
    expect(delta({ method: 'POST', route: '/graphql', status: '200' }, 'http_requests_total')).toBe(4);
  });

  it('reports the database pool as a gauge by state', async () => {
    const { samples } = await scrape();
    const pool = samples.filter((s) => s.name === 'db_pool_connections');
    expect(pool.map((s) => s.labels.state).sort()).toEqual(['idle', 'total', 'waiting']);
    const total = pool.find((s) => s.labels.state === 'total')!.value;
    expect(total).toBeGreaterThanOrEqual(1);
    for (const s of pool) expect(s.value).toBeGreaterThanOrEqual(0);
    expect(pool.find((s) => s.labels.state === 'idle')!.value).toBeLessThanOrEqual(total);
  });
});

describe('readiness without a database', () => {
  const logged: string[] = [];
  const app = useApp({
    env: { LOG_LEVEL: 'warn', MAIL_POLL_INTERVAL_MS: '20', EVENT_POLL_INTERVAL_MS: '20' },
    appOptions: { logger: createLogger('warn', { write: (chunk: string) => void logged.push(chunk) }) },
  });

  it('while the database is away, the outbox loops report their failure once, not every poll', async () => {
    const before = logged.length;
    try {
      await app.server.dataSource.destroy();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const failures = (text: string) => logged.slice(before).filter((line) => line.includes(text)).length;
      expect(failures('Mail outbox could not be read')).toBe(1);
      expect(failures('Webhook outbox could not be read')).toBe(1);
    } finally {
      if (!app.server.dataSource.isInitialized) await app.server.dataSource.initialize();
    }
  });

  it('GET /readyz answers 503 when the database does not answer, while /healthz stays 200', async () => {
    try {
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      await app.server.dataSource.destroy();
      const res = await fetch(`${app.url}/readyz`);
      expect(res.status).toBe(503);
      const body = await res.json();
      expect(body).toEqual({ status: 'unavailable' });
      expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    } finally {
      // close() destroys the data source again; bring it back so that it can.
      if (!app.server.dataSource.isInitialized) await app.server.dataSource.initialize();
    }
  });
});

describe('metrics turned off', () => {
  const app = useApp({ env: { METRICS_ENABLED: 'false' } });

  it('METRICS_ENABLED=false answers /metrics with 404 and the API still works', async () => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toMatch(/http_requests_total/);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });
});

(usingPostgres ? describe : describe.skip)('readiness when PostgreSQL stops answering', () => {
  const spawned = useDatabase();

  it('GET /readyz answers 503 within a few seconds, not never, while /healthz stays 200', async () => {
    // A proxy in front of the database that can stop passing anything on, as a hung server would.
    const target = new URL(spawned.database.url);
    let frozen = false;
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      client.on('data', (chunk) => !frozen && upstream.write(chunk));
      upstream.on('data', (chunk) => !frozen && client.write(chunk));
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(spawned.database.url);
    url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    const server = await spawnServer(spawned.database, { env: { DATABASE_URL: url.toString() } });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      frozen = true;
      const started = Date.now();
      const res = await fetch(`${server.url}/readyz`);
      expect([res.status, await res.json()]).toEqual([503, { status: 'unavailable' }]);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      server.child.kill('SIGKILL');
      await server.exit;
      proxy.close();
    }
  }, 60_000);
});

(usingPostgres ? describe : describe.skip)('the data port’s connections when the database ends them', () => {
  const logged: string[] = [];
  const app = useApp({
    env: { LOG_LEVEL: 'warn' },
    appOptions: { logger: createLogger('warn', { write: (chunk: string) => void logged.push(chunk) }) },
  });

  it('a connection of the data port that the database ends is logged, and the server goes on', async () => {
    const { adminToken } = await app.fixtures.orgAdmin('Ended connections');
    const me = () => gql(app.url, '{ me { id } }', {}, bearer(adminToken));
    expect((await me()).body.errors).toBeUndefined();
    expect(await endConnections(app.server.database)).toBeGreaterThan(0);
    await pollUntil(
      () => logged.filter((line) => line.includes('A PostgreSQL connection of the data port failed')),
      (lines) => lines.length > 0,
      { failure: () => 'no warning was logged' },
    );
    expect((await me()).body.errors).toBeUndefined();
  });
});

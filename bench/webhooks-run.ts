import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadResult } from './load-worker';
import type { Listening } from './processes';
import { clean, combined, median, printFailureSamples, printTable, printTargets, type Row } from './report';
import { dropDatabase, measure, prepareDatabase, startServer, warmUp, type RunContext } from './stack';

const WITH_ENDPOINT_RATIO = 0.9;
const LAG_P99_MS = 1000;

/** A receiver on loopback: answers 204 at once and notes how long after its change each event arrived. */
async function startReceiver() {
  const lags: number[] = [];
  let received = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const now = Date.now();
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { occurredAt: string };
      lags.push(now - Date.parse(event.occurredAt));
      received++;
      res.statusCode = 204;
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    lags,
    received: () => received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function graphql(server: Listening, token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Waits until the receiver has had `count` events, or nothing has come for 5 s. */
async function drained(receiver: Awaited<ReturnType<typeof startReceiver>>, count: number): Promise<void> {
  let last = receiver.received();
  let quietSince = Date.now();
  while (receiver.received() < count) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (receiver.received() !== last) [last, quietSince] = [receiver.received(), Date.now()];
    else if (Date.now() - quietSince > 5000) throw new Error(`${count - last} events never arrived`);
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * `--webhooks`: GraphQL updateUser without a webhook endpoint, then with one (a receiver on loopback
 * taking every event), in `BENCH_ROUNDS` rounds, each round's ratio taken between figures measured
 * moments apart; and how long after its change each event reached the receiver (delivery lag).
 */
export async function webhooksRun(run: RunContext): Promise<void> {
  const { db, fixtures } = await prepareDatabase(run, 'webhooks', run.options.users);
  const receiver = await startReceiver();
  const without: LoadResult[] = [];
  const withEndpoint: LoadResult[] = [];
  const lags: number[] = [];
  let server: Listening | undefined;
  try {
    server = await startServer(run, db, { WEBHOOK_ALLOW_PRIVATE: 'true' });
    await warmUp(run, [{ target: server, names: ['graphql updateUser'] }], fixtures);
    for (let round = 1; round <= run.options.rounds; round++) {
      console.log(`round ${round} of ${run.options.rounds}:`);
      process.stdout.write('  without an endpoint:');
      without.push(await measure(run, server, 'graphql updateUser', fixtures));
      const created = await graphql(
        server,
        fixtures.adminPat,
        'mutation ($url: String!) { createWebhookEndpoint(input: { url: $url }) { endpoint { id } } }',
        { url: receiver.url },
      );
      const before = receiver.received();
      receiver.lags.length = 0;
      process.stdout.write('  with one endpoint:');
      const result = await measure(run, server, 'graphql updateUser', fixtures);
      withEndpoint.push(result);
      // Every write of the run (warm-up included) is an event to deliver; the last ones arrive after it.
      await drained(receiver, before + result.responses);
      lags.push(...receiver.lags);
      await graphql(server, fixtures.adminPat, 'mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) }', {
        id: created.createWebhookEndpoint.endpoint.id,
      });
    }
  } finally {
    await server?.stop();
    await receiver.close();
    await dropDatabase(run, db);
  }

  const ratios = withEndpoint.map(
    (result, round) => result.requestsPerSecond / without[round].requestsPerSecond,
  );
  const rows: Row[] = [
    { label: 'graphql updateUser', result: combined(without), toUpdateUser: 1 },
    {
      label: 'graphql updateUser, one webhook endpoint',
      result: combined(withEndpoint),
      toUpdateUser: median(ratios),
    },
  ];
  console.log(
    `\n${run.options.connections} connections, ${run.options.durationSeconds} s after ` +
      `${run.options.warmupSeconds} s warm-up, ${run.options.rounds} round${run.options.rounds === 1 ? '' : 's'} ` +
      `(figures: medians over the rounds; "x updateUser": the median of each round's ratio to no endpoint)\n`,
  );
  printTable(rows);
  const p50 = percentile(lags, 50);
  const p99 = percentile(lags, 99);
  console.log(
    `\ndelivery lag (change committed → event at the receiver), ${lags.length.toLocaleString('en-US')} events: ` +
      `p50 ${p50} ms, p99 ${p99} ms, max ${percentile(lags, 100)} ms`,
  );
  if (ratios.length > 1)
    console.log(`with x without in each round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  printFailureSamples(rows);
  printTargets([
    {
      label: `updateUser with one webhook endpoint ≥ ${WITH_ENDPOINT_RATIO} × without`,
      actual: median(ratios).toFixed(2),
      pass: median(ratios) >= WITH_ENDPOINT_RATIO,
    },
    { label: `delivery lag p99 < ${LAG_P99_MS} ms`, actual: `${p99} ms`, pass: p99 < LAG_P99_MS },
    {
      label: 'no errors, no non-2xx',
      actual: rows.every((r) => clean(r.result)) ? 'all clean' : 'failures',
      pass: rows.every((r) => clean(r.result)),
    },
  ]);
}

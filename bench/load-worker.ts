import crypto from 'node:crypto';
import autocannon from 'autocannon';
import type { Fixtures } from './fixtures';
import { scenario, type ScenarioName } from './scenarios';

/** What the runner asks the worker to do: one warm-up and one measured run of a scenario. */
export interface LoadJob {
  url: string;
  scenario: ScenarioName;
  fixtures: Fixtures;
  connections: number;
  warmupSeconds: number;
  /** Either a duration or a number of requests (soak). */
  durationSeconds?: number;
  amount?: number;
  /** Send a progress message every this many responses (soak RSS sampling). */
  progressEvery?: number;
}

/** The figures of one measured run. */
export interface LoadResult {
  responses: number;
  seconds: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Connection errors and timeouts, plus 2xx answers whose body reports a failure. */
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** A few failing answers, to say what went wrong. */
  samples: string[];
}

export type WorkerMessage =
  { type: 'warm' } | { type: 'progress'; responses: number } | { type: 'result'; result: LoadResult };

const MAX_SAMPLES = 3;

async function measure(job: LoadJob, seconds: number | undefined, amount?: number): Promise<LoadResult> {
  const definition = scenario(job.scenario);
  const tag = crypto.randomBytes(4).toString('hex');
  let n = 0;
  let bodyFailures = 0;
  let responses = 0;
  const samples: string[] = [];
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    ...(amount ? { amount } : { duration: seconds }),
    requests: [
      {
        setupRequest: (request) => ({ ...request, ...definition.request(n++, job.fixtures, tag) }),
        onResponse: (status, body) => {
          const ok = status >= 200 && status < 300 && definition.succeeded(body);
          if (status >= 200 && status < 300 && !ok) bodyFailures++;
          if (!ok && samples.length < MAX_SAMPLES) {
            samples.push(`${status} ${body.slice(0, 300)}`);
          }
        },
      },
    ],
  });
  if (job.progressEvery) {
    instance.on('response', () => {
      if (++responses % job.progressEvery! === 0) send({ type: 'progress', responses });
    });
  }
  const result = await instance;
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  return {
    responses: result.requests.total,
    seconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + bodyFailures,
    non2xx: result.non2xx,
    statusCodes,
    samples,
  };
}

function send(message: WorkerMessage, then?: () => void): void {
  if (process.send) process.send(message, undefined, {}, () => then?.());
}

/** Runs in a child process (forked by load.ts) so the load generator never shares an event loop. */
process.once('message', async (job: LoadJob) => {
  try {
    const quiet = { ...job, progressEvery: undefined };
    if (job.warmupSeconds > 0) {
      // One request per member credential first: the server refreshes a credential's lastUsedAt at
      // most once a minute, so the measured run sees the steady state instead of a burst of first uses.
      if (scenario(job.scenario).perMember) {
        await measure(quiet, undefined, Math.max(job.fixtures.members.length, job.connections));
      }
      await measure(quiet, job.warmupSeconds);
    }
    send({ type: 'warm' });
    const result = await measure(job, job.durationSeconds, job.amount);
    send({ type: 'result', result }, () => process.exit(0));
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
});
// The runner went away (killed): stop at once instead of loading a server nobody measures.
process.on('disconnect', () => process.exit(0));

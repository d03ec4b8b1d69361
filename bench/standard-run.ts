import os from 'node:os';
import type { LoadResult } from './load-worker';
import {
  combined,
  median,
  printFailureSamples,
  printTable,
  printTargets,
  clean,
  megabytes,
  type Row,
  type Target,
} from './report';
import { type Scenario, SCENARIOS, type ScenarioName } from './scenarios';
import {
  dropDatabase,
  measure,
  prepareDatabase,
  startBaseline,
  startPeer,
  serverCommand,
  startServer,
  warmUp,
  type RunContext,
} from './stack';
import type { Listening } from './processes';

/**
 * The two update patterns the issue compares: every member in a scattered order, and one hot row (every
 * request the same member). Each is compared with the baseline doing the same and, on PostgreSQL, with
 * PostGraphile doing the same.
 */
const PATTERNS = [
  {
    key: 'scatter',
    server: 'graphql updateUser',
    baseline: 'baseline',
    peer: 'postgraphile updateUser',
  },
  {
    key: 'hot row',
    server: 'graphql updateUser hot row',
    baseline: 'baseline hot row',
    peer: 'postgraphile updateUser hot row',
  },
] as const satisfies ReadonlyArray<{
  key: string;
  server: ScenarioName;
  baseline: ScenarioName;
  peer: ScenarioName;
}>;

/** The issue's minimum ratios of GraphQL updateUser to the baseline and (PostgreSQL) to PostGraphile. */
const UPDATE_USER_MINIMUM: Record<
  'sqlite' | 'postgres',
  Record<(typeof PATTERNS)[number]['key'], { baseline: number; peer?: number }>
> = {
  sqlite: { scatter: { baseline: 1.0 }, 'hot row': { baseline: 0.8 } },
  postgres: { scatter: { baseline: 0.8, peer: 1.2 }, 'hot row': { baseline: 0.8, peer: 1.2 } },
};
const P99_LIMIT_MS = 30;
const REST_TO_UPDATE_USER = 0.95;

const baselineOf = (s: Scenario): ScenarioName => (s.hotRow ? 'baseline hot row' : 'baseline');
const peerOf = (name: ScenarioName) => PATTERNS.find((p) => p.server === name)?.peer;

/**
 * `npm run bench`: the baseline, on PostgreSQL the PostGraphile peer, and the server side by side on one
 * database, then `rounds` rounds in which every scenario is measured in turn. The machine's speed drifts
 * over minutes (other tenants), so each ratio is taken within a round, between figures measured moments
 * apart, and the table shows the median over the rounds.
 */
export async function standardRun(run: RunContext): Promise<void> {
  const { options } = run;
  const { db, fixtures } = await prepareDatabase(run, 'standard', options.users);
  const withPeer = db.kind === 'postgres';
  const scenarios = SCENARIOS.filter((s) => s.target !== 'peer' || withPeer);

  const processes: Partial<Record<Scenario['target'], Listening>> = {};
  const perRound: Array<Map<string, LoadResult>> = [];
  const rss: Partial<Record<Scenario['target'], number>> = {};
  try {
    processes.baseline = await startBaseline(db);
    if (withPeer) processes.peer = await startPeer(db);
    processes.server = await startServer(run, db);
    console.log(
      `baseline (bare node:http + ${db.kind === 'sqlite' ? 'sqlite3, synchronous = FULL' : 'pg pool'}), ` +
        `${withPeer ? 'PostGraphile (postgraphile-peer.ts, NODE_ENV=production), ' : ''}` +
        `server (${serverCommand(run)}, NODE_ENV=production):`,
    );
    const started = Object.keys(processes) as Array<Scenario['target']>;
    await warmUp(
      run,
      started.map((target) => ({
        target: processes[target]!,
        names: scenarios.filter((s) => s.target === target).map((s) => s.name),
      })),
      fixtures,
    );
    for (let round = 1; round <= options.rounds; round++) {
      console.log(`round ${round} of ${options.rounds}:`);
      const results = new Map<string, LoadResult>();
      for (const s of scenarios)
        results.set(s.name, await measure(run, processes[s.target]!, s.name, fixtures));
      perRound.push(results);
    }
    for (const target of started) rss[target] = processes[target]!.rssKb();
  } finally {
    for (const target of ['baseline', 'peer', 'server'] as const) await processes[target]?.stop();
  }
  await dropDatabase(run, db);

  const roundRatios = (name: string, to: string) =>
    perRound.map((results) => results.get(name)!.requestsPerSecond / results.get(to)!.requestsPerSecond);
  const ratio = (name: string, to: string) => median(roundRatios(name, to));
  const rows: Row[] = scenarios.map((s) => {
    const peer = withPeer ? peerOf(s.name) : undefined;
    return {
      label: s.name,
      result: combined(perRound.map((results) => results.get(s.name)!)),
      toBaseline: ratio(s.name, baselineOf(s)),
      toUpdateUser: s.kind === 'rest' ? ratio(s.name, 'graphql updateUser') : undefined,
      toPeer: peer ? ratio(s.name, peer) : undefined,
    };
  });

  console.log('');
  console.log(
    `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${db.kind}, ` +
      `${options.users.toLocaleString('en-US')} users, ${options.connections} connections, ` +
      `${options.durationSeconds} s per scenario after ${options.warmupSeconds} s warm-up, ` +
      `${options.rounds} round${options.rounds === 1 ? '' : 's'} (figures: medians over the rounds; ` +
      `ratios: medians of each round's ratio; hot-row rows x baseline hot row)`,
  );
  console.log('');
  printTable(rows);
  if (perRound.length > 1) {
    const each = (name: string, to: string) =>
      roundRatios(name, to)
        .map((r) => r.toFixed(2))
        .join(', ');
    console.log('');
    for (const p of PATTERNS) {
      console.log(`${p.server} x ${p.baseline} in each round: ${each(p.server, p.baseline)}`);
      if (withPeer) console.log(`${p.server} x ${p.peer} in each round: ${each(p.server, p.peer)}`);
    }
  }
  console.log(
    `\nRSS at the end: server ${megabytes(rss.server!)}, baseline ${megabytes(rss.baseline!)}` +
      `${withPeer ? `, PostGraphile ${megabytes(rss.peer!)}` : ''}`,
  );
  printFailureSamples(rows);
  printTargets(targets(db.kind, rows));
}

/** 1.0, 0.8, 0.95: at least one decimal, as the issue writes them. */
const times = (minimum: number) => (Number.isInteger(minimum * 10) ? minimum.toFixed(1) : String(minimum));
const failures = (row: Row) => (clean(row.result) ? '' : `, ${row.result.errors + row.result.non2xx} failed`);

function targets(kind: 'sqlite' | 'postgres', rows: Row[]): Target[] {
  const row = (name: string) => rows.find((r) => r.label === name)!;
  const list: Target[] = [];
  for (const p of PATTERNS) {
    const server = row(p.server);
    const minimum = UPDATE_USER_MINIMUM[kind][p.key];
    // A ratio bought with failures (fast error answers) is no ratio: the server's row must be clean.
    list.push({
      label: `${p.server} ≥ ${times(minimum.baseline)} × ${p.baseline} (${kind}), no errors`,
      actual: `${server.toBaseline!.toFixed(2)}${failures(server)}`,
      pass: server.toBaseline! >= minimum.baseline && clean(server.result),
    });
    if (minimum.peer !== undefined) {
      list.push({
        label: `${p.server} ≥ ${times(minimum.peer)} × ${p.peer}, no errors`,
        actual: `${server.toPeer!.toFixed(2)}${failures(server)}`,
        pass: server.toPeer! >= minimum.peer && clean(server.result),
      });
    }
    list.push({
      label: `${p.server} p99 < ${P99_LIMIT_MS} ms`,
      actual: `${server.result.p99.toFixed(1)} ms`,
      pass: server.result.p99 < P99_LIMIT_MS,
    });
  }
  const updateUser = row('graphql updateUser');
  for (const rest of rows.filter((r) => r.toUpdateUser !== undefined)) {
    list.push({
      label: `${rest.label} ≥ ${times(REST_TO_UPDATE_USER)} × updateUser, no errors`,
      actual: `${rest.toUpdateUser!.toFixed(2)}${failures(rest)}`,
      pass: rest.toUpdateUser! >= REST_TO_UPDATE_USER && clean(rest.result) && clean(updateUser.result),
    });
  }
  const unclean = rows.filter((r) => !clean(r.result));
  list.push({
    label: 'every scenario: no errors, no non-2xx',
    actual: unclean.length ? unclean.map((r) => r.label).join('; ') : 'all clean',
    pass: unclean.length === 0,
  });
  return list;
}

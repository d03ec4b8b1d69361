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
import { SCENARIOS } from './scenarios';
import {
  dropDatabase,
  measure,
  prepareDatabase,
  startBaseline,
  serverCommand,
  startServer,
  warmUpServer,
  type RunContext,
} from './stack';

/** The issue's ratio of GraphQL updateUser to the bare baseline, per database. */
const UPDATE_USER_TO_BASELINE = { sqlite: 0.35, postgres: 0.45 };
const P99_LIMIT_MS = 30;
const REST_TO_UPDATE_USER = 0.9;

/**
 * `npm run bench`: the baseline and the server side by side on one database, then `rounds` rounds in
 * which the baseline and every server scenario are measured in turn. The machine's speed drifts over
 * minutes (other tenants), so each ratio is taken within a round, between figures measured moments
 * apart, and the table shows the median over the rounds.
 */
export async function standardRun(run: RunContext): Promise<void> {
  const { options } = run;
  const { db, fixtures } = await prepareDatabase(run, 'standard', options.users);

  const baselineProcess = await startBaseline(db);
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  const names = SCENARIOS.filter((s) => s.target === 'server').map((s) => s.name);
  const perRound: Array<Map<string, LoadResult>> = [];
  let baselineRss: number;
  let serverRss: number;
  try {
    server = await startServer(run, db);
    console.log(
      `baseline (bare node:http + ${db.kind === 'sqlite' ? 'sqlite3' : 'pg pool'}) and server (${serverCommand(run)}, NODE_ENV=production):`,
    );
    await warmUpServer(run, server, names, fixtures);
    for (let round = 1; round <= options.rounds; round++) {
      console.log(`round ${round} of ${options.rounds}:`);
      const results = new Map<string, LoadResult>();
      results.set('baseline', await measure(run, baselineProcess, 'baseline', fixtures));
      for (const name of names) results.set(name, await measure(run, server, name, fixtures));
      perRound.push(results);
    }
    baselineRss = baselineProcess.rssKb();
    serverRss = server.rssKb();
  } finally {
    await baselineProcess.stop();
    await server?.stop();
  }
  await dropDatabase(run, db);

  const ratio = (name: string, to: string) =>
    median(
      perRound.map((results) => results.get(name)!.requestsPerSecond / results.get(to)!.requestsPerSecond),
    );
  const rows: Row[] = SCENARIOS.map((s) => ({
    label: s.name,
    result: combined(perRound.map((results) => results.get(s.name)!)),
    toBaseline: ratio(s.name, 'baseline'),
    toUpdateUser: s.kind === 'rest' ? ratio(s.name, 'graphql updateUser') : undefined,
  }));

  console.log('');
  console.log(
    `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${db.kind}, ` +
      `${options.users.toLocaleString('en-US')} users, ${options.connections} connections, ` +
      `${options.durationSeconds} s per scenario after ${options.warmupSeconds} s warm-up, ` +
      `${options.rounds} round${options.rounds === 1 ? '' : 's'} (figures: medians over the rounds; ` +
      `ratios: medians of each round's ratio)`,
  );
  console.log('');
  printTable(rows);
  if (perRound.length > 1) {
    const each = (name: string, to: string) =>
      perRound
        .map((results) =>
          (results.get(name)!.requestsPerSecond / results.get(to)!.requestsPerSecond).toFixed(2),
        )
        .join(', ');
    console.log(`\nupdateUser x baseline in each round: ${each('graphql updateUser', 'baseline')}`);
  }
  console.log(`\nserver RSS at the end: ${megabytes(serverRss)} (baseline: ${megabytes(baselineRss)})`);
  printFailureSamples(rows);
  printTargets(targets(db.kind, rows));
}

function targets(kind: 'sqlite' | 'postgres', rows: Row[]): Target[] {
  const row = (name: string) => rows.find((r) => r.label === name)!;
  const updateUser = row('graphql updateUser');
  const minimum = UPDATE_USER_TO_BASELINE[kind];
  const list: Target[] = [
    {
      label: `GraphQL updateUser ≥ ${minimum} × baseline (${kind})`,
      actual: updateUser.toBaseline!.toFixed(2),
      pass: updateUser.toBaseline! >= minimum,
    },
    {
      label: `GraphQL updateUser p99 < ${P99_LIMIT_MS} ms`,
      actual: `${updateUser.result.p99.toFixed(1)} ms`,
      pass: updateUser.result.p99 < P99_LIMIT_MS,
    },
    {
      label: 'GraphQL updateUser: no errors, no non-2xx',
      actual: `${updateUser.result.errors} / ${updateUser.result.non2xx}`,
      pass: clean(updateUser.result),
    },
  ];
  for (const rest of rows.filter((r) => r.toUpdateUser !== undefined)) {
    list.push({
      label: `${rest.label} ≥ ${REST_TO_UPDATE_USER} × updateUser, no errors`,
      actual: `${rest.toUpdateUser!.toFixed(2)}${clean(rest.result) ? '' : `, ${rest.result.errors + rest.result.non2xx} failed`}`,
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

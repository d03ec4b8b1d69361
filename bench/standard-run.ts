import os from 'node:os';
import type { LoadResult } from './load-worker';
import {
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
  startServer,
  warmUpServer,
  type RunContext,
} from './stack';

/** The issue's ratio of GraphQL updateUser to the bare baseline, per database. */
const UPDATE_USER_TO_BASELINE = { sqlite: 0.35, postgres: 0.45 };
const P99_LIMIT_MS = 30;
const REST_TO_UPDATE_USER = 0.9;

/** `npm run bench`: the baseline, then every server scenario on the same database; table and targets. */
export async function standardRun(run: RunContext): Promise<void> {
  const { options } = run;
  const { db, fixtures } = await prepareDatabase(run, 'standard', options.users);

  console.log(`baseline (bare node:http + ${db.kind === 'sqlite' ? 'sqlite3' : 'pg pool'}):`);
  const baselineProcess = await startBaseline(db);
  const results = new Map<string, LoadResult>();
  let baselineRss: number;
  try {
    results.set('baseline', await measure(run, baselineProcess, 'baseline', fixtures));
    baselineRss = baselineProcess.rssKb();
  } finally {
    await baselineProcess.stop();
  }

  console.log(`server (node dist/src/main.js, NODE_ENV=production):`);
  const server = await startServer(run, db);
  let serverRss: number;
  try {
    const names = SCENARIOS.filter((s) => s.target === 'server').map((s) => s.name);
    await warmUpServer(run, server, names, fixtures);
    for (const name of names) results.set(name, await measure(run, server, name, fixtures));
    serverRss = server.rssKb();
  } finally {
    await server.stop();
  }
  await dropDatabase(run, db);

  const baseline = results.get('baseline')!;
  const updateUser = results.get('graphql updateUser')!;
  const rows: Row[] = SCENARIOS.map((s) => {
    const result = results.get(s.name)!;
    return {
      label: s.name,
      result,
      toBaseline: result.requestsPerSecond / baseline.requestsPerSecond,
      toUpdateUser: s.kind === 'rest' ? result.requestsPerSecond / updateUser.requestsPerSecond : undefined,
    };
  });

  console.log('');
  console.log(
    `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${db.kind}, ` +
      `${options.users.toLocaleString('en-US')} users, ${options.connections} connections, ` +
      `${options.durationSeconds} s per scenario after ${options.warmupSeconds} s warm-up`,
  );
  console.log('');
  printTable(rows);
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

import type { LoadResult } from './load-worker';
import type { Listening } from './processes';
import {
  clean,
  combined,
  median,
  megabytes,
  printFailureSamples,
  printTable,
  printTargets,
  type Row,
} from './report';
import { dropDatabase, measure, prepareDatabase, startServer, type RunContext } from './stack';

const SCALE_RATIO = 0.9;

/**
 * `--scale`: the same GraphQL updateUser run on a small and on a large table, and the ratio of the two.
 * Both servers run side by side (the idle one costs nothing) and are measured in turn, in
 * `BENCH_ROUNDS` rounds, each round's ratio taken between figures measured moments apart, as the
 * standard run does: the machine's speed drifts over minutes. The order alternates from round to round.
 */
export async function scaleRun(run: RunContext): Promise<void> {
  const sizes = run.options.scaleUsers;
  type Setup = Awaited<ReturnType<typeof prepareDatabase>> & { server?: Listening };
  const setups: Setup[] = [];
  const perSize: LoadResult[][] = sizes.map(() => []);
  const rss: number[] = [];
  try {
    for (const users of sizes) {
      const setup: Setup = await prepareDatabase(run, `${users}-users`, users);
      setups.push(setup);
      setup.server = await startServer(run, setup.db);
    }
    for (let round = 1; round <= run.options.rounds; round++) {
      console.log(`round ${round} of ${run.options.rounds}:`);
      const order = round % 2 ? [0, 1] : [1, 0];
      for (const index of order) {
        const { server, fixtures } = setups[index];
        process.stdout.write(`  ${sizes[index].toLocaleString('en-US')} users:`);
        perSize[index].push(await measure(run, server!, 'graphql updateUser', fixtures));
      }
    }
    for (const setup of setups) rss.push(setup.server!.rssKb());
  } finally {
    for (const setup of setups) await setup.server?.stop();
    for (const setup of setups) await dropDatabase(run, setup.db);
  }

  const ratios = perSize[1].map(
    (large, round) => large.requestsPerSecond / perSize[0][round].requestsPerSecond,
  );
  const rows: Row[] = sizes.map((users, index) => ({
    label: `graphql updateUser, ${users.toLocaleString('en-US')} users`,
    result: combined(perSize[index]),
    toUpdateUser: index === 0 ? 1 : median(ratios),
  }));
  const [small, large] = rows;

  console.log(
    `\n${run.options.connections} connections, ${run.options.durationSeconds} s after ` +
      `${run.options.warmupSeconds} s warm-up, ${run.options.rounds} round${run.options.rounds === 1 ? '' : 's'} ` +
      `(figures: medians over the rounds; "x updateUser": the median of each round's ratio to the small table)\n`,
  );
  printTable(rows);
  if (ratios.length > 1)
    console.log(`\nlarge x small in each round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`);
  console.log(`\nserver RSS at the end: ${rss.map(megabytes).join(' / ')}`);
  printFailureSamples(rows);
  printTargets([
    {
      label: `updateUser at ${large.label.split(', ')[1]} ≥ ${SCALE_RATIO} × at ${small.label.split(', ')[1]}`,
      actual: large.toUpdateUser!.toFixed(2),
      pass: large.toUpdateUser! >= SCALE_RATIO,
    },
    {
      label: 'no errors, no non-2xx',
      actual: rows.every((r) => clean(r.result)) ? 'all clean' : 'failures',
      pass: rows.every((r) => clean(r.result)),
    },
  ]);
}

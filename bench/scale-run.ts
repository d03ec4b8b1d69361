import { clean, megabytes, printFailureSamples, printTable, printTargets, type Row } from './report';
import { dropDatabase, measure, prepareDatabase, startServer, type RunContext } from './stack';

const SCALE_RATIO = 0.9;

/** `--scale`: the same GraphQL updateUser run on a small and on a large table, and the ratio of the two. */
export async function scaleRun(run: RunContext): Promise<void> {
  const rows: Row[] = [];
  const rss: number[] = [];
  for (const users of run.options.scaleUsers) {
    const label = `${users}-users`;
    const { db, fixtures } = await prepareDatabase(run, label, users);
    const server = await startServer(run, db);
    try {
      const result = await measure(run, server, 'graphql updateUser', fixtures);
      rows.push({ label: `graphql updateUser, ${users.toLocaleString('en-US')} users`, result });
      rss.push(server.rssKb());
    } finally {
      await server.stop();
    }
    await dropDatabase(run, db);
  }
  const [small, large] = rows;
  large.toUpdateUser = large.result.requestsPerSecond / small.result.requestsPerSecond;
  small.toUpdateUser = 1;

  console.log(
    `\n${run.options.connections} connections, ${run.options.durationSeconds} s after ` +
      `${run.options.warmupSeconds} s warm-up ("x updateUser" is the ratio to the small table)\n`,
  );
  printTable(rows);
  console.log(`\nserver RSS at the end: ${rss.map(megabytes).join(' / ')}`);
  printFailureSamples(rows);
  printTargets([
    {
      label: `updateUser at ${rows[1].label.split(', ')[1]} ≥ ${SCALE_RATIO} × at ${rows[0].label.split(', ')[1]}`,
      actual: large.toUpdateUser.toFixed(2),
      pass: large.toUpdateUser >= SCALE_RATIO,
    },
    {
      label: 'no errors, no non-2xx',
      actual: rows.every((r) => clean(r.result)) ? 'all clean' : 'failures',
      pass: rows.every((r) => clean(r.result)),
    },
  ]);
}

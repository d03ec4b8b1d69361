import { runLoad } from './load';
import { clean, megabytes, printFailureSamples, printTable, printTargets, thousands } from './report';
import { dropDatabase, prepareDatabase, startServer, type RunContext } from './stack';

const RSS_DRIFT = 0.1;

/** `--soak`: GraphQL updateUser without pause, the server's RSS sampled every N responses. */
export async function soakRun(run: RunContext): Promise<void> {
  const { options } = run;
  const { db, fixtures } = await prepareDatabase(run, 'soak', options.users);
  const server = await startServer(run, db);
  const samples: { responses: number; rssKb: number }[] = [];
  const startRss = server.rssKb();
  let result;
  try {
    console.log(`  graphql updateUser × ${thousands(options.soakRequests)} …`);
    result = await runLoad(
      {
        url: server.url,
        scenario: 'graphql updateUser',
        fixtures,
        connections: options.connections,
        warmupSeconds: 0,
        amount: options.soakRequests,
        progressEvery: options.soakEvery,
      },
      (responses) => {
        const rssKb = server.rssKb();
        samples.push({ responses, rssKb });
        console.log(`  ${thousands(responses).padStart(9)} requests: RSS ${megabytes(rssKb)}`);
      },
    );
  } finally {
    await server.stop();
  }
  await dropDatabase(run, db);

  console.log(`\nserver RSS before the load: ${megabytes(startRss)}`);
  console.log(`RSS series (MB, every ${thousands(options.soakEvery)} requests):`);
  console.log(`  ${samples.map((s) => (s.rssKb / 1024).toFixed(1)).join(', ')}\n`);
  const rows = [{ label: 'graphql updateUser (soak)', result }];
  printTable(rows);
  printFailureSamples(rows);
  const first = samples[0];
  const last = samples[samples.length - 1];
  const ratio = last && first ? last.rssKb / first.rssKb : NaN;
  printTargets([
    {
      label: `RSS after ${thousands(last?.responses ?? 0)} within ${RSS_DRIFT * 100}% of RSS after ${thousands(first?.responses ?? 0)}`,
      actual: `${ratio.toFixed(3)} (${megabytes(first?.rssKb ?? 0)} → ${megabytes(last?.rssKb ?? 0)})`,
      pass: Math.abs(ratio - 1) <= RSS_DRIFT,
    },
    { label: 'no errors, no non-2xx', actual: `${result.errors} / ${result.non2xx}`, pass: clean(result) },
  ]);
}

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { BenchDatabase } from './database';
import { readRssKb, track } from './processes';
import { megabytes, printTargets, thousands } from './report';
import { baseEnv, dropDatabase, prepareDatabase, type RunContext } from './stack';

const ROOT = path.resolve(__dirname, '..');
/** Rows per second the import of new users must reach (the update pass is printed, not judged). */
const ROWS_PER_SECOND = 5000;
/**
 * RSS at the end at most this much above the highest sample of the first half: the file is streamed,
 * so memory does not grow with the rows read (collections make it rise and fall within a range).
 */
const RSS_GROWTH = 0.1;

interface ImportPass {
  seconds: number;
  summary: { total: number; imported: number; updated: number; refused: number };
  /** RSS of the CLI process after each tenth of the rows. */
  rssKb: number[];
}

/** A CSV file of `rows` users, written as a stream; `tag` goes into every job title. */
async function writeCsv(file: string, nonce: string, rows: number, tag: string): Promise<void> {
  const out = fs.createWriteStream(file);
  out.write('email,name,jobTitle,timezone\n');
  for (let n = 0; n < rows; n++) {
    const line = `import-${nonce}-${n}@example.com,Imported ${n},${tag} ${n},Europe/Paris\n`;
    if (!out.write(line)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/** `npm run cli -- user import` as an operator runs it, its RSS read at each tenth of the rows. */
async function importPass(run: RunContext, db: BenchDatabase, orgId: string, file: string, extra: string[]) {
  const started = process.hrtime.bigint();
  const child = track(
    spawn(
      'node',
      [path.join(ROOT, 'dist/src/cli/main.js'), 'user', 'import', '--org', orgId, '--file', file, ...extra],
      {
        cwd: ROOT,
        env: {
          ...baseEnv(),
          NODE_ENV: 'production',
          DATABASE_URL: db.url,
          DATA_DIR: db.dataDir,
          JWT_SECRET: run.jwtSecret,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  const rssKb: number[] = [];
  const every = Math.max(1000, Math.floor(run.options.importRows / 10 / 1000) * 1000);
  // Without a terminal the CLI reports progress every 1,000 rows on stderr (with one, a progress bar).
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    const done = /^imported (\d+)\//.exec(line);
    if (done && Number(done[1]) % every === 0 && child.exitCode === null) rssKb.push(readRssKb(child.pid!));
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  // 'close', not 'exit': the output must have been read to its end.
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`user import ${extra.join(' ')} exited ${code}: ${stdout}`);
  // The summary line: "rows: N, imported: N, [updated: N, ]skipped: N, refused: N".
  const count = (name: string) => Number(new RegExp(`${name}: (\\d+)`).exec(stdout)?.[1] ?? 0);
  const summary = {
    total: count('rows'),
    imported: count('imported'),
    updated: count('updated'),
    refused: count('refused'),
  };
  return { seconds, summary, rssKb } as ImportPass;
}

/** `--import`: BENCH_IMPORT_ROWS new users from a CSV file, then the same users updated (`--update`). */
export async function importRun(run: RunContext): Promise<void> {
  const rows = run.options.importRows;
  const { db, fixtures } = await prepareDatabase(run, 'import', 1);
  const createFile = path.join(run.tempRoot, 'create.csv');
  const updateFile = path.join(run.tempRoot, 'update.csv');
  await writeCsv(createFile, fixtures.nonce, rows, 'Created');
  await writeCsv(updateFile, fixtures.nonce, rows, 'Updated');
  const passes: Array<[string, ImportPass, number]> = [];
  try {
    console.log(`  user import of ${thousands(rows)} new users …`);
    const created = await importPass(run, db, fixtures.organizationId, createFile, []);
    passes.push(['create', created, created.summary.imported]);
    console.log(`  user import --update of the same ${thousands(rows)} users …`);
    const updated = await importPass(run, db, fixtures.organizationId, updateFile, ['--update']);
    passes.push(['update', updated, updated.summary.updated]);
  } finally {
    await dropDatabase(run, db);
  }
  console.log(`\n${db.kind}, ${thousands(rows)} rows, batches of 1,000 rows per transaction\n`);
  console.log('pass     rows/s   seconds  written  refused  RSS every tenth of the rows (MB)');
  for (const [label, pass, written] of passes) {
    const rate = written / pass.seconds;
    const series = pass.rssKb.map((kb) => (kb / 1024).toFixed(0)).join(', ');
    console.log(
      `${label.padEnd(7)} ${thousands(Math.round(rate)).padStart(7)} ${pass.seconds.toFixed(1).padStart(9)} ${thousands(written).padStart(8)} ${String(pass.summary.refused).padStart(8)}  ${series}`,
    );
  }
  console.log('');
  printTargets(
    passes.flatMap(([label, pass, written]) => {
      const firstHalf = Math.max(...pass.rssKb.slice(0, Math.ceil(pass.rssKb.length / 2)));
      const last = pass.rssKb[pass.rssKb.length - 1] ?? NaN;
      const rate = written / pass.seconds;
      return [
        {
          label:
            label === 'create'
              ? `create: ≥ ${thousands(ROWS_PER_SECOND)} rows/s, every row written`
              : `${label}: every row written`,
          actual: `${thousands(Math.round(rate))} rows/s, ${thousands(written)} of ${thousands(rows)}`,
          pass: written === rows && (label !== 'create' || rate >= ROWS_PER_SECOND),
        },
        {
          label: `${label}: RSS at the end ≤ ${100 + RSS_GROWTH * 100}% of the first half's highest`,
          actual: `${megabytes(firstHalf)} → ${megabytes(last)}`,
          pass: last <= firstHalf * (1 + RSS_GROWTH),
        },
      ];
    }),
  );
}

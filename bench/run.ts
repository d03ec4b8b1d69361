import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { parseOptions, USAGE, UsageError } from './options';
import { killAll, track } from './processes';
import { importRun } from './import-run';
import { scaleRun } from './scale-run';
import { soakRun } from './soak-run';
import { standardRun } from './standard-run';
import { webhooksRun } from './webhooks-run';
import { newJwtSecret, type RunContext } from './stack';

/**
 * `npm run bench`: builds the server, then measures it against the bare baseline on a throwaway
 * database. Results are printed only; everything created (processes, temp dir, schemas) is removed
 * on every exit path. Exits non-zero only when the benchmark itself breaks, never for a missed target.
 */
async function main(run: RunContext): Promise<void> {
  console.log('building (npm run build) …');
  const build = track(
    spawn('npm', ['run', '--silent', 'build'], { cwd: path.resolve(__dirname, '..'), stdio: 'inherit' }),
  );
  const [code, signal] = await once(build, 'exit');
  if (code !== 0) throw new Error(`npm run build failed (${signal ?? code})`);
  if (run.options.mode === 'scale') return scaleRun(run);
  if (run.options.mode === 'soak') return soakRun(run);
  if (run.options.mode === 'import') return importRun(run);
  if (run.options.mode === 'webhooks') return webhooksRun(run);
  return standardRun(run);
}

/**
 * Where the SQLite files go: BENCH_TMPDIR, else a folder under the repository's `data/`, the server's
 * default data directory, so the file sits on the disk a deployment's database would and every commit
 * pays for its fsync as it would there (a RAM disk would hide that cost on both sides).
 */
function tempParent(): string {
  if (process.env.BENCH_TMPDIR) return process.env.BENCH_TMPDIR;
  const data = path.resolve(__dirname, '..', 'data');
  fs.mkdirSync(data, { recursive: true });
  return data;
}

let run: RunContext;
try {
  run = {
    options: parseOptions(process.argv.slice(2), process.env),
    tempRoot: fs.mkdtempSync(path.join(tempParent(), 'users-api-bench-')),
    jwtSecret: newJwtSecret(),
    databases: new Set(),
  };
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}

let cleaning: Promise<void> | undefined;
/** Set on SIGINT/SIGTERM: what fails afterwards is the cleanup's doing, not worth reporting. */
let interrupted = false;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killAll();
    for (const db of run.databases) {
      await db.drop().catch((error) => console.error(`could not drop ${db.kind} database: ${error}`));
    }
    fs.rmSync(run.tempRoot, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping and cleaning up`);
    void cleanup().finally(() => process.exit(code));
  });
}
process.once('uncaughtException', (error) => {
  console.error(`\nbenchmark failed: ${error.stack ?? error.message}`);
  void cleanup().finally(() => process.exit(1));
});
// Last resort for paths that skip cleanup(): nothing async can run here, so kill and delete only.
process.once('exit', () => {
  killAll();
  fs.rmSync(run.tempRoot, { recursive: true, force: true });
});

main(run)
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (error) => {
    if (interrupted) return;
    console.error(`\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : error}`);
    await cleanup();
    process.exit(1);
  });

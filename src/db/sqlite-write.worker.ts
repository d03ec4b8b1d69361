/**
 * The SQLite write connection, on its own thread.
 *
 * A write transaction is several statements (BEGIN, UPDATE, INSERT, COMMIT), and with node-sqlite3
 * each one is a round trip through the event loop of the thread that issued it. On the server's main
 * thread, busy with HTTP and GraphQL, each such hop waits for the loop to come round, and SQLite's
 * write lock is held all the while. Here the loop has nothing else to do, so a transaction takes a few
 * tens of microseconds and the main thread only sees one message out and one back.
 *
 * Transactions that arrive while one is running are committed together (group commit): one
 * `BEGIN IMMEDIATE`, a savepoint per transaction so each one still succeeds or fails on its own, one
 * `COMMIT`. Only plain `sqlite3` is imported: this file also runs from source in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import type { WriteJob, WriteOutcome, WorkerReply } from './sqlite-write.protocol';

interface Pending {
  job: WriteJob;
  outcome?: WriteOutcome;
}

const { file, busyTimeoutMs, maxBatch } = workerData as {
  file: string;
  busyTimeoutMs: number;
  maxBatch: number;
};
const port = parentPort!;

const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE);
const statements = new Map<string, sqlite3.Statement>();
/** Distinct statement texts are few (one per set of changed columns); this bounds them anyway. */
const MAX_STATEMENTS = 256;

function exec(sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())));
}

/** The prepared statement for `sql`; a statement that does not prepare (no such table…) is not kept. */
function statement(sql: string): Promise<sqlite3.Statement> {
  const cached = statements.get(sql);
  if (cached) return Promise.resolve(cached);
  return new Promise((resolve, reject) => {
    const prepared = db.prepare(sql, (error: Error | null) => {
      if (error) return reject(error);
      if (statements.size >= MAX_STATEMENTS) {
        const [oldest, stale] = statements.entries().next().value!;
        statements.delete(oldest);
        stale.finalize();
      }
      statements.set(sql, prepared);
      resolve(prepared);
    });
  });
}

async function all(sql: string, params: unknown[]): Promise<unknown[]> {
  const prepared = await statement(sql);
  return new Promise((resolve, reject) =>
    prepared.all(params, (error: Error | null, rows: unknown[]) => (error ? reject(error) : resolve(rows))),
  );
}

function describe(error: unknown): { message: string; code?: string; errno?: number } {
  const e = error as { message?: string; code?: string; errno?: number };
  return { message: String(e?.message ?? error), code: e?.code, errno: e?.errno };
}

/** Runs one job's steps; a step that must match a row and matches none stops the job. */
async function runSteps(job: WriteJob): Promise<WriteOutcome> {
  const rows: unknown[][] = [];
  for (let index = 0; index < job.steps.length; index++) {
    const step = job.steps[index];
    const result = await all(step.sql, step.params);
    if (step.requireRow && result.length === 0) return { applied: false, failedStep: index };
    rows.push(result);
  }
  return { applied: true, rows };
}

/** One transaction for the whole batch, a savepoint per job. */
async function runBatch(batch: Pending[]): Promise<void> {
  await exec('BEGIN IMMEDIATE');
  try {
    for (const pending of batch) {
      await exec('SAVEPOINT job');
      try {
        pending.outcome = await runSteps(pending.job);
      } catch (error) {
        pending.outcome = { applied: false, error: describe(error) };
      }
      // A job that did not apply leaves nothing behind, whatever it had done before stopping.
      if (!pending.outcome.applied) await exec('ROLLBACK TO job');
      await exec('RELEASE job');
    }
    await exec('COMMIT');
  } catch (error) {
    await exec('ROLLBACK').catch(() => undefined);
    // Nothing of this batch was committed: every job fails with the cause.
    for (const pending of batch) pending.outcome = { applied: false, error: describe(error) };
  }
}

const queue: Pending[] = [];
/** Whether a drain is scheduled or running: jobs that arrive meanwhile join its next batch. */
let draining = false;

async function drain(): Promise<void> {
  while (queue.length > 0) {
    const batch = queue.splice(0, maxBatch);
    await runBatch(batch);
    for (const { job, outcome } of batch)
      port.postMessage({ id: job.id, outcome: outcome! } satisfies WorkerReply);
  }
  draining = false;
}

async function open(): Promise<void> {
  // The main connection already put the file in WAL mode (it persists in the file).
  await exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  await exec('PRAGMA foreign_keys = ON');
}

const opened = open();
port.on('message', (job: WriteJob) => {
  queue.push({ job });
  if (!draining) {
    draining = true;
    opened.then(drain, (error) => {
      draining = false;
      for (const pending of queue.splice(0)) {
        port.postMessage({
          id: pending.job.id,
          outcome: { applied: false, error: describe(error) },
        } satisfies WorkerReply);
      }
    });
  }
});

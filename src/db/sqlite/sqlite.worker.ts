/**
 * The SQLite thread: the hot path's writes (connections.ts) run here, on a connection of its own.
 *
 * With node-sqlite3 each statement is a round trip through the event loop of the thread that issued
 * it. On the server's main thread, busy with HTTP and GraphQL, a write transaction (BEGIN, UPDATE,
 * INSERT, COMMIT) would hold SQLite's write lock across several of its loop turns. Here the loop has
 * nothing else to do; the main thread sends the writes of a whole loop turn in one message and gets
 * the answers back the same way. (Reads, one statement each, run on the main thread's read-only
 * connections: there a read costs one trip to the thread pool instead of two messages between threads
 * on top of it.)
 *
 * Writes that arrive while one is running are committed together (group commit): one
 * `BEGIN IMMEDIATE`, the jobs, one `COMMIT`; each job still succeeds or fails on its own (see
 * runBatchPlainly for how, without a savepoint per job in the usual case). Every statement is a
 * prepared statement of the pool with its values bound: no SQL text is ever built from a value. Only
 * plain `sqlite3` is imported: this file also runs from source in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import type { ThreadReply, ThreadRequest, WriteOutcome, WriteStep } from './thread.protocol';
import { describeError, exec, openDatabase, StatementPool } from './statements';

const { file, busyTimeoutMs, maxBatch } = workerData as {
  file: string;
  busyTimeoutMs: number;
  maxBatch: number;
};
const port = parentPort!;

interface Connections {
  write: sqlite3.Database;
  writeStatements: StatementPool;
}

async function open(): Promise<Connections> {
  // The main connection already put the file in WAL mode (it persists in the file).
  const write = await openDatabase(file, sqlite3.OPEN_READWRITE);
  write.configure('busyTimeout', busyTimeoutMs);
  await exec(write, 'PRAGMA foreign_keys = ON');
  return { write, writeStatements: new StatementPool(write, 1) };
}

/** Replies leave together at the end of the loop turn, so the main thread is woken once per turn. */
const outbox: ThreadReply[] = [];
function reply(message: ThreadReply): void {
  if (outbox.length === 0) setImmediate(() => port.postMessage(outbox.splice(0)));
  outbox.push(message);
}

/** Runs one job's steps; a step that must match a row and matches none stops the job. */
async function runSteps(c: Connections, steps: WriteStep[]): Promise<WriteOutcome> {
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index];
    const result = await c.writeStatements.all(step.sql, step.params);
    if (step.requireRow && result.length === 0) return { applied: false, failedStep: index };
  }
  return { applied: true };
}

interface PendingWrite {
  id: number;
  steps: WriteStep[];
  outcome?: WriteOutcome;
}

/** The usual batch could not finish without undoing part of a job: the batch runs again, job by job. */
class NeedsSavepoints extends Error {}

/**
 * One transaction for the whole batch, without savepoints: most jobs apply, and a job whose first
 * statement matches no row or fails has written nothing (a statement that fails leaves no trace).
 * Anything else (a later step that fails or matches nothing) would need part of a job undone: then
 * nothing of the batch is kept and it runs again with a savepoint per job. Every savepoint costs a
 * round trip to the thread pool, which a batch of plain updates would otherwise spend most time on.
 */
async function runBatchPlainly(c: Connections, batch: PendingWrite[]): Promise<void> {
  await exec(c.write, 'BEGIN IMMEDIATE');
  try {
    for (const job of batch) {
      for (let index = 0; index < job.steps.length; index++) {
        const step = job.steps[index];
        let result: Record<string, unknown>[];
        try {
          result = await c.writeStatements.all(step.sql, step.params);
        } catch {
          throw new NeedsSavepoints();
        }
        if (step.requireRow && result.length === 0) {
          if (index > 0) throw new NeedsSavepoints();
          job.outcome = { applied: false, failedStep: 0 };
          break;
        }
      }
      job.outcome ??= { applied: true };
    }
    await exec(c.write, 'COMMIT');
  } catch (error) {
    await exec(c.write, 'ROLLBACK').catch(() => undefined);
    for (const job of batch) job.outcome = undefined;
    if (error instanceof NeedsSavepoints) return runBatchWithSavepoints(c, batch);
    // Nothing of this batch was committed: every job fails with the cause.
    for (const job of batch) job.outcome = { applied: false, error: describeError(error) };
  }
}

/** One transaction for the whole batch, a savepoint per job, so each job succeeds or fails on its own. */
async function runBatchWithSavepoints(c: Connections, batch: PendingWrite[]): Promise<void> {
  await exec(c.write, 'BEGIN IMMEDIATE');
  try {
    for (const job of batch) {
      await exec(c.write, 'SAVEPOINT job');
      try {
        job.outcome = await runSteps(c, job.steps);
      } catch (error) {
        job.outcome = { applied: false, error: describeError(error) };
      }
      // A job that did not apply leaves nothing behind, whatever it had done before stopping.
      if (!job.outcome.applied) await exec(c.write, 'ROLLBACK TO job');
      await exec(c.write, 'RELEASE job');
    }
    await exec(c.write, 'COMMIT');
  } catch (error) {
    await exec(c.write, 'ROLLBACK').catch(() => undefined);
    // Nothing of this batch was committed: every job fails with the cause.
    for (const job of batch) job.outcome = { applied: false, error: describeError(error) };
  }
}

const writes: PendingWrite[] = [];
/** Whether a drain is scheduled or running: writes that arrive meanwhile join its next batch. */
let draining = false;

async function drain(c: Connections): Promise<void> {
  while (writes.length > 0) {
    const batch = writes.splice(0, maxBatch);
    await runBatchPlainly(c, batch);
    for (const job of batch) reply({ id: job.id, outcome: job.outcome! });
  }
  draining = false;
}

const opened = open();
// Keeps a failure to open from being reported as unhandled before the first request asks.
opened.catch(() => undefined);

port.on('message', (requests: ThreadRequest[]) => {
  opened.then(
    (c) => {
      for (const request of requests) writes.push({ id: request.id, steps: request.write });
      if (!draining && writes.length > 0) {
        draining = true;
        void drain(c);
      }
    },
    (error) => {
      for (const request of requests) reply({ id: request.id, error: describeError(error) });
    },
  );
});

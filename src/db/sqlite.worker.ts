/**
 * The SQLite thread: every hot-path statement (connections.ts) runs here, on connections of its own.
 *
 * With node-sqlite3 each statement is a round trip through the event loop of the thread that issued
 * it, and handing a statement to the thread pool wakes a pool thread, which on a busy machine costs the
 * waker tens of microseconds. On the server's main thread, busy with HTTP and GraphQL, both hurt: a
 * write transaction (BEGIN, UPDATE, INSERT, COMMIT) would hold SQLite's write lock across several loop
 * turns, and every read would pay the wake-up. Here the loop has nothing else to do; the main thread
 * sends the statements of a whole loop turn in one message and gets the answers back the same way.
 *
 * Writes that arrive while one is running are committed together (group commit): one
 * `BEGIN IMMEDIATE`, a savepoint per transaction so each one still succeeds or fails on its own, one
 * `COMMIT`. Reads run on read-only connections beside the writes (WAL), so they never see a write that
 * has not committed. Only plain `sqlite3` is imported: this file also runs from source in tests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import type { ThreadReply, ThreadRequest, WriteOutcome, WriteStep } from './sqlite-thread.protocol';
import { describeError, exec, openDatabase, StatementPool } from './sqlite-statements';

const { file, busyTimeoutMs, maxBatch, readers } = workerData as {
  file: string;
  busyTimeoutMs: number;
  maxBatch: number;
  readers: number;
};
const port = parentPort!;

interface Connections {
  write: sqlite3.Database;
  writeStatements: StatementPool;
  read: StatementPool[];
}

async function open(): Promise<Connections> {
  // The main connection already put the file in WAL mode (it persists in the file).
  const write = await openDatabase(file, sqlite3.OPEN_READWRITE);
  write.configure('busyTimeout', busyTimeoutMs);
  await exec(write, 'PRAGMA foreign_keys = ON');
  const read: StatementPool[] = [];
  for (let i = 0; i < readers; i++) {
    const db = await openDatabase(file, sqlite3.OPEN_READONLY);
    db.configure('busyTimeout', busyTimeoutMs);
    read.push(new StatementPool(db));
  }
  return { write, writeStatements: new StatementPool(write, 1), read };
}

/** Replies leave together at the end of the loop turn, so the main thread is woken once per turn. */
const outbox: ThreadReply[] = [];
function reply(message: ThreadReply): void {
  if (outbox.length === 0) setImmediate(() => port.postMessage(outbox.splice(0)));
  outbox.push(message);
}

/** Runs one job's steps; a step that must match a row and matches none stops the job. */
async function runSteps(c: Connections, steps: WriteStep[]): Promise<WriteOutcome> {
  const rows: unknown[][] = [];
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index];
    const result = await c.writeStatements.all(step.sql, step.params);
    if (step.requireRow && result.length === 0) return { applied: false, failedStep: index };
    rows.push(result);
  }
  return { applied: true, rows };
}

interface PendingWrite {
  id: number;
  steps: WriteStep[];
  outcome?: WriteOutcome;
}

/** One transaction for the whole batch, a savepoint per job. */
async function runBatch(c: Connections, batch: PendingWrite[]): Promise<void> {
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
    await runBatch(c, batch);
    for (const job of batch) reply({ id: job.id, outcome: job.outcome! });
  }
  draining = false;
}

let nextReader = 0;
async function read(c: Connections, id: number, sql: string, params: unknown[]): Promise<void> {
  try {
    const rows = await c.read[nextReader++ % c.read.length].all(sql, params);
    reply({ id, rows: rows.map((row) => Object.values(row)) });
  } catch (error) {
    reply({ id, error: describeError(error) });
  }
}

const opened = open();
// Keeps a failure to open from being reported as unhandled before the first request asks.
opened.catch(() => undefined);

port.on('message', (requests: ThreadRequest[]) => {
  opened.then(
    (c) => {
      for (const request of requests) {
        if ('read' in request) void read(c, request.id, request.read.sql, request.read.params);
        else writes.push({ id: request.id, steps: request.write });
      }
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

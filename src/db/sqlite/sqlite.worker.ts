/**
 * The SQLite database thread: the request path's writes (sqlite.adapter.ts) run here, on a connection
 * of its own.
 *
 * With node-sqlite3 each statement is a round trip through the event loop of the thread that issued
 * it. On the server's main thread, busy with HTTP and GraphQL, a write transaction (BEGIN, UPDATE,
 * INSERT, COMMIT) would hold SQLite's write lock across several of its loop turns. Here the loop has
 * nothing else to do.
 *
 * Requests that arrive while a transaction runs are committed together in the next one (group
 * commit): one `BEGIN IMMEDIATE`, their jobs in order, one `COMMIT`, so one disk sync for all of
 * them; each job still succeeds or fails on its own (run). Every statement is a prepared
 * statement with its values bound. Calls arrive and are answered through ThreadCalls (worker-thread.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import { answerCalls, type ThreadCall } from '../../worker-thread';
import { describeError, exec, openDatabase, StatementPool } from './statements';
import type { Job, JobOutcome, JobsAnswer } from './thread.protocol';

const { file, busyTimeoutMs, maxBatch } = workerData as {
  file: string;
  busyTimeoutMs: number;
  maxBatch: number;
};
const port = parentPort!;

interface Connection {
  db: sqlite3.Database;
  statements: StatementPool;
}

async function open(): Promise<Connection> {
  // The data source already put the file in WAL mode (it persists in the file). FULL: a commit that
  // was answered survives a power cut too, not only a crash of the process.
  const db = await openDatabase(file, sqlite3.OPEN_READWRITE);
  db.configure('busyTimeout', busyTimeoutMs);
  await exec(db, 'PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL');
  return { db, statements: new StatementPool(db, 1) };
}

/** A job's later step failed or found no row: part of it would have to be undone. */
class NeedsSavepoints extends Error {}

/**
 * Runs the jobs in one transaction. Without savepoints (the usual case), a job whose first statement
 * finds no row or fails has written nothing (a failed statement leaves no trace); anything else (a
 * later step that fails or finds nothing) would need part of a job undone, so nothing is kept and the
 * jobs run again with a savepoint each. A savepoint costs a round trip to the thread pool, which plain
 * updates would otherwise spend most of their time on.
 */
async function run(c: Connection, jobs: Job[], savepoints = false): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  await exec(c.db, 'BEGIN IMMEDIATE');
  try {
    for (const job of jobs) {
      if (savepoints) await exec(c.db, 'SAVEPOINT job');
      let outcome: JobOutcome = { applied: true };
      for (let index = 0; index < job.length && outcome.applied; index++) {
        try {
          const rows = await c.statements.all(job[index].sql, job[index].params);
          if (job[index].returnRows) outcome.rows = rows;
          if (job[index].requireRow && rows.length === 0) outcome = { applied: false, failedStep: index };
        } catch (error) {
          outcome = { applied: false, failedStep: index, error: describeError(error) };
        }
        if (!savepoints && (outcome.error || (!outcome.applied && index > 0))) throw new NeedsSavepoints();
      }
      // A job that did not apply leaves nothing behind, whatever it had done before stopping.
      if (savepoints) await exec(c.db, outcome.applied ? 'RELEASE job' : 'ROLLBACK TO job; RELEASE job');
      outcomes.push(outcome);
    }
    await exec(c.db, 'COMMIT');
    return outcomes;
  } catch (error) {
    await exec(c.db, 'ROLLBACK').catch(() => undefined);
    if (error instanceof NeedsSavepoints) return run(c, jobs, true);
    // Nothing was committed: every job fails with the cause.
    return jobs.map(() => ({ applied: false, error: describeError(error) }));
  }
}

const queue: ThreadCall<Job[]>[] = [];
/** Whether a drain is running: calls that arrive meanwhile join its next transaction. */
let draining = false;

async function drain(c: Connection): Promise<void> {
  while (queue.length > 0) {
    const calls = queue.splice(0, maxBatch);
    const outcomes = await run(
      c,
      calls.flatMap((call) => call.call),
    );
    for (const call of calls) answer(call.id, { outcomes: outcomes.splice(0, call.call.length) });
  }
  draining = false;
}

const opened = open();
// Keeps a failure to open from being reported as unhandled before the first call asks.
opened.catch(() => undefined);

const answer = answerCalls<Job[], JobsAnswer>(port, (calls) => {
  opened.then(
    (c) => {
      queue.push(...calls);
      if (!draining && queue.length > 0) {
        draining = true;
        void drain(c);
      }
    },
    (error) => {
      for (const call of calls) answer(call.id, { error: describeError(error) });
    },
  );
});

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
 * them; each job still succeeds or fails on its own (run). The changes of users among them are written
 * a statement per table for all of them (writeChanges), since each statement costs a round trip.
 * Every statement is a prepared statement with its values bound. Calls arrive and are answered through
 * ThreadCalls (worker-thread.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import { answerCalls, type ThreadCall } from '../../worker-thread';
import { describeError, exec, openDatabase, StatementPool } from './statements';
import type { ChangeRows, ChangeStatements, Job, JobOutcome, JobsAnswer, WriteStep } from './thread.protocol';

const { file, busyTimeoutMs, maxBatch, changeStatements } = workerData as {
  file: string;
  busyTimeoutMs: number;
  maxBatch: number;
  changeStatements: ChangeStatements;
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

/** A statement of changes written together was refused: each must run again alone. */
class RefusedTogether extends Error {}

/**
 * The changes as rounds, each holding at most one change of a user (an UPDATE … FROM updates a row once)
 * and at most one demotion (its guard must see the demotions before it), in order: a change comes in a
 * round after the one before it of its user, so it finds that one's history row (`follows`).
 */
function rounds(changes: ChangeRows[]): ChangeRows[][] {
  const rounds: ChangeRows[][] = [];
  const nextOfUser = new Map<number, number>();
  let lastDemotion = -1;
  for (const change of changes) {
    let round = nextOfUser.get(change.numericId) ?? 0;
    if (change.demotes) lastDemotion = round = Math.max(round, lastDemotion + 1);
    (rounds[round] ??= []).push(change);
    nextOfUser.set(change.numericId, round + 1);
  }
  return rounds;
}

/**
 * Writes the changes: their UPDATEs a round at a time, then the rows the applied ones add, a statement
 * per table for all. Which of them applied (their guards held).
 */
async function writeChanges(c: Connection, changes: ChangeRows[]): Promise<Set<ChangeRows>> {
  const applied = new Set<ChangeRows>();
  const rows = (sql: string, values: unknown[]) => c.statements.all(sql, [JSON.stringify(values)]);
  const written = new Map(changes.map((change) => [change.historyId, change]));
  for (const round of rounds(changes)) {
    // A change following one written here applies only if that one did, which is known here (its
    // history row is added after the UPDATEs); the database checks the others.
    const ready = round.filter((change) => {
      const followed = change.follows === null ? undefined : written.get(change.follows);
      return !followed || applied.has(followed);
    });
    if (ready.length === 0) continue;
    const values = ready.map((change) => [
      change.follows !== null && written.has(change.follows) ? null : change.follows,
      ...change.update,
    ]);
    const numericIds = async (sql: string, values: unknown[]) =>
      (await rows(sql, values)).map((row) => Number(row.numeric_id));
    const updated = new Set(await numericIds(changeStatements.updateUnindexed, values));
    // Those that change an indexed column (or whose guards failed) take the UPDATE of every column.
    const rest = values.filter((_, at) => !updated.has(ready[at].numericId));
    if (rest.length > 0) for (const id of await numericIds(changeStatements.update, rest)) updated.add(id);
    for (const change of ready) if (updated.has(change.numericId)) applied.add(change);
  }
  if (applied.size === 0) return applied;
  const done = [...applied];
  await rows(
    changeStatements.history,
    done.map((change) => change.history),
  );
  await rows(
    changeStatements.event,
    done.map((change) => change.event),
  );
  const mail = done.flatMap((change) => change.mail);
  if (mail.length > 0) await rows(changeStatements.mail, mail);
  const claims = done.flatMap((change) => (change.claim ? [change.claim] : []));
  if (claims.length > 0) await rows(changeStatements.claimOutcome, claims);
  return applied;
}

/** A job's statements in order, until one that must find a row finds none (the job did not apply). */
async function runSteps(c: Connection, steps: WriteStep[]): Promise<JobOutcome> {
  const outcome: JobOutcome = { applied: true };
  for (const step of steps) {
    const rows = await c.statements.all(step.sql, step.params);
    if (step.returnRows) outcome.rows = rows;
    if (step.requireRow && rows.length === 0) return { applied: false };
  }
  return outcome;
}

/** Runs `work` in a savepoint, undone unless it applied; an error is the outcome. */
async function inSavepoint(c: Connection, work: () => Promise<JobOutcome>): Promise<JobOutcome> {
  await exec(c.db, 'SAVEPOINT job');
  let outcome: JobOutcome;
  try {
    outcome = await work();
  } catch (error) {
    outcome = { applied: false, error: describeError(error) };
  }
  await exec(c.db, outcome.applied ? 'RELEASE job' : 'ROLLBACK TO job; RELEASE job');
  return outcome;
}

/** An atomic job's changes one by one, stopping at the first that does not apply (the caller undoes it). */
async function runAtomic(c: Connection, changes: ChangeRows[]): Promise<JobOutcome> {
  for (const [index, change] of changes.entries()) {
    try {
      if ((await writeChanges(c, [change])).size === 0) return { applied: false, failed: index };
    } catch (error) {
      return { applied: false, failed: index, error: describeError(error) };
    }
  }
  return { applied: true };
}

/**
 * Runs the jobs in one transaction, each kept or undone on its own. The changes of jobs that come one
 * after another are written together; any other job runs in a savepoint, undone alone when it does not
 * apply. A savepoint costs two round trips to the thread pool, which plain updates would otherwise
 * spend most of their time on: only when a statement of changes written together is refused does the
 * transaction run again with each change alone, in a savepoint of its own.
 */
async function run(c: Connection, jobs: Job[], alone = false): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  await exec(c.db, 'BEGIN IMMEDIATE');
  try {
    let together: number[] = [];
    const writeTogether = async () => {
      const indexes = together;
      together = [];
      if (indexes.length === 0) return;
      const changes = indexes.map((index) => (jobs[index] as { change: ChangeRows }).change);
      const applied = await writeChanges(c, changes).catch(() => {
        throw new RefusedTogether();
      });
      changes.forEach((change, at) => (outcomes[indexes[at]] = { applied: applied.has(change) }));
    };
    for (const [index, job] of jobs.entries()) {
      if ('change' in job && !alone) {
        together.push(index);
        continue;
      }
      await writeTogether();
      outcomes[index] = await inSavepoint(c, () =>
        'steps' in job
          ? runSteps(c, job.steps)
          : 'atomic' in job
            ? runAtomic(c, job.atomic)
            : writeChanges(c, [job.change]).then((applied) => ({ applied: applied.size > 0 })),
      );
    }
    await writeTogether();
    await exec(c.db, 'COMMIT');
    return outcomes;
  } catch (error) {
    await exec(c.db, 'ROLLBACK').catch(() => undefined);
    if (error instanceof RefusedTogether) return run(c, jobs, true);
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

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

/** A statement of changes written in one batch was refused: each must run again alone. */
class BatchRefused extends Error {}

/**
 * The changes in runs, in order: changes of one user that follow one another with the same guards
 * (`sameGuards`) are one run, written by one UPDATE of the last one's row, guarded as the first one was
 * read; every other change is a run of its own. A run's changes stand or fall together anyway (each
 * follows the one before it, and their guards are the same), and one UPDATE is one round trip instead
 * of one per change. A demotion ends every run, so that no change joins a run written before it.
 */
function runs(changes: ChangeRows[]): ChangeRows[][] {
  const runs: ChangeRows[][] = [];
  const openRuns = new Map<number, ChangeRows[]>();
  for (const change of changes) {
    if (change.demotes) openRuns.clear();
    const run = openRuns.get(change.numericId);
    const last = run?.at(-1);
    if (
      run &&
      change.sameGuards !== null &&
      change.sameGuards === last!.sameGuards &&
      change.follows === last!.historyId
    ) {
      run.push(change);
      continue;
    }
    runs.push([change]);
    openRuns.set(change.numericId, runs.at(-1)!);
  }
  return runs;
}

/**
 * The runs as rounds, each holding at most one run of a user (an UPDATE … FROM updates a row once) and
 * at most one demotion (its guard must see the demotions before it), in order: a run comes in a round
 * after the one before it of its user and after the change its first change follows.
 */
function rounds(runs: ChangeRows[][]): ChangeRows[][][] {
  const rounds: ChangeRows[][][] = [];
  const nextOfUser = new Map<number, number>();
  const roundOf = new Map<string, number>();
  let lastDemotion = -1;
  for (const run of runs) {
    const [first] = run;
    const afterFollowed = first.follows === null ? 0 : (roundOf.get(first.follows) ?? -1) + 1;
    let round = Math.max(nextOfUser.get(first.numericId) ?? 0, afterFollowed);
    if (first.demotes) lastDemotion = round = Math.max(round, lastDemotion + 1);
    (rounds[round] ??= []).push(run);
    nextOfUser.set(first.numericId, round + 1);
    for (const change of run) roundOf.set(change.historyId, round);
  }
  return rounds;
}

/**
 * Writes the changes: their UPDATEs a round at a time, then the rows the applied ones add, a statement
 * per table for all. Which of them applied (their guards held).
 *
 * Every row of one UPDATE is judged on the table as it was before the statement, so its changes are
 * recorded (history, events) in an order that agrees with what their guards saw: those of each
 * statement after those of the statement before, and a statement's demotion after its other changes.
 */
async function writeChanges(c: Connection, changes: ChangeRows[]): Promise<ChangeRows[]> {
  const applied: ChangeRows[] = [];
  const rows = (sql: string, values: unknown[]) => c.statements.all(sql, [JSON.stringify(values)]);
  const written = new Map(changes.map((change) => [change.historyId, change]));
  const claimed = new Set<string>();
  /** Runs `sql` for `runs`; the rest, those it did not update. */
  const update = async (sql: string, runs: ChangeRows[][]): Promise<ChangeRows[][]> => {
    if (runs.length === 0) return runs;
    const values = runs.map((run) => {
      const [first, last] = [run[0], run.at(-1)!];
      const follows = first.follows !== null && written.has(first.follows) ? null : first.follows;
      return [follows, run.length, first.numericId, first.readVersion, ...last.update];
    });
    const updated = new Set((await rows(sql, values)).map((row) => Number(row.numeric_id)));
    const done = runs.filter((run) => updated.has(run[0].numericId));
    applied.push(
      ...done.filter((run) => !run[0].demotes).flat(),
      ...done.filter((run) => run[0].demotes).flat(),
    );
    for (const change of done.flat()) if (change.claim) claimed.add(change.claim[1]);
    return runs.filter((run) => !updated.has(run[0].numericId));
  };
  for (const round of rounds(runs(changes))) {
    // A change following one written here applies only if that one did, which is known here (its
    // history row is added after the UPDATEs); the database checks the others. A claim is used once.
    const ready = round.filter(([change]) => {
      const followed = change.follows === null ? undefined : written.get(change.follows);
      return (!followed || applied.includes(followed)) && !(change.claim && claimed.has(change.claim[1]));
    });
    // Those that change an indexed column (or whose guards failed) take the UPDATE of every column.
    await update(changeStatements.update, await update(changeStatements.updateUnindexed, ready));
  }
  if (applied.length === 0) return applied;
  await rows(
    changeStatements.history,
    applied.map((change) => change.history),
  );
  await rows(
    changeStatements.event,
    applied.map((change) => change.event),
  );
  const mail = applied.flatMap((change) => change.mail);
  if (mail.length > 0) await rows(changeStatements.mail, mail);
  const claims = applied.flatMap((change) => (change.claim ? [change.claim] : []));
  if (claims.length > 0) await rows(changeStatements.claimOutcome, claims);
  return applied;
}

/** A job's statements in order, and their rows. */
async function runSteps(c: Connection, steps: WriteStep[]): Promise<JobOutcome> {
  const rows: Record<string, unknown>[][] = [];
  for (const [sql, params] of steps) rows.push(await c.statements.all(sql, params));
  return { applied: true, rows };
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
      if ((await writeChanges(c, [change])).length === 0) return { applied: false, failed: index };
    } catch (error) {
      return { applied: false, failed: index, error: describeError(error) };
    }
  }
  return { applied: true };
}

/**
 * Runs the jobs in one transaction, each kept or undone on its own. The changes of jobs that come one
 * after another are written as one batch; any other job runs in a savepoint, undone alone when it does not
 * apply. A savepoint costs two round trips to the thread pool, which plain updates would otherwise
 * spend most of their time on: only when a statement of a batch of changes is refused does the
 * transaction run again with each change alone, in a savepoint of its own.
 */
async function run(c: Connection, jobs: Job[], alone = false): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = [];
  await exec(c.db, 'BEGIN IMMEDIATE');
  try {
    let batch: number[] = [];
    const writeBatch = async () => {
      const indexes = batch;
      batch = [];
      if (indexes.length === 0) return;
      const changes = indexes.map((index) => (jobs[index] as { change: ChangeRows }).change);
      const applied = new Set(
        await writeChanges(c, changes).catch(() => {
          throw new BatchRefused();
        }),
      );
      changes.forEach((change, at) => (outcomes[indexes[at]] = { applied: applied.has(change) }));
    };
    for (const [index, job] of jobs.entries()) {
      if ('change' in job && !alone) {
        batch.push(index);
        continue;
      }
      await writeBatch();
      outcomes[index] = await inSavepoint(c, () =>
        'steps' in job
          ? runSteps(c, job.steps)
          : 'atomic' in job
            ? runAtomic(c, job.atomic)
            : writeChanges(c, [job.change]).then((applied) => ({ applied: applied.length > 0 })),
      );
    }
    await writeBatch();
    await exec(c.db, 'COMMIT');
    return outcomes;
  } catch (error) {
    await exec(c.db, 'ROLLBACK').catch(() => undefined);
    if (error instanceof BatchRefused) return run(c, jobs, true);
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

/** Messages between the SQLite adapter and its database thread (sqlite.worker.ts). */
import type { ErrorInfo } from './statements';

/** One statement of a job, with `?N` parameters, and its values. */
export type WriteStep = [sql: string, params: unknown[]];

/**
 * A change of a user, as values of the change statements (ChangeStatements), in their column order:
 * the thread writes the changes of one transaction together, a statement per table for all of them.
 */
export interface ChangeRows {
  numericId: number;
  /** Its history row's id, and that of the change it follows (it applies only if that one did). */
  historyId: string;
  follows: string | null;
  /** Whether the change demotes or deactivates an active admin (its guard reads other users' rows). */
  demotes: boolean;
  /**
   * Its caller guard and indexed columns' values, or null when it demotes or claims: changes of a user
   * that follow one another with the same value here are written as one UPDATE (sqlite.worker.ts).
   */
  sameGuards: string | null;
  /** The version it was worked out on (the stored row must still have it). */
  readVersion: number;
  /** The guards' values, then the written columns. */
  update: unknown[];
  history: unknown[];
  event: unknown[];
  mail: unknown[][];
  /** The Idempotency-Key claim's outcome and id. */
  claim: [string, string] | null;
}

/**
 * The statements that write changes, each taking its rows as one JSON array of arrays (`?1`): the
 * guarded UPDATE (returning the numeric ids it updated; each row is the change's `follows`, or null
 * when the thread checks it, how many changes the row writes, then its `update`), then for the changes it applied their history rows,
 * events, messages and claims' outcomes.
 */
export interface ChangeStatements {
  update: string;
  /** The same, but leaving the indexed columns alone: it applies only where they would not change. */
  updateUnindexed: string;
  history: string;
  event: string;
  mail: string;
  claimOutcome: string;
}

/** Statements kept or undone as one; one change; or changes all applied or none (`atomic`). */
export type Job = { steps: WriteStep[] } | { change: ChangeRows } | { atomic: ChangeRows[] };

/** `error`: what the database refused; otherwise whether every guard held. */
export interface JobOutcome {
  applied: boolean;
  /** In an atomic job that did not apply: the change that was refused. */
  failed?: number;
  error?: ErrorInfo;
  /** The rows of each of a job's steps. */
  rows?: Record<string, unknown>[][];
}

/**
 * A call to the thread is jobs committed in one transaction, each kept or undone on its own; the
 * answer is their outcomes, or what failed them all.
 */
export type JobsAnswer = { outcomes: JobOutcome[] } | { error: ErrorInfo };

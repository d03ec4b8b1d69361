/** Messages between the SQLite adapter and its database thread (sqlite.worker.ts). */
import type { ErrorInfo } from './statements';

/** One statement of a job, with `?N` parameters. */
export interface WriteStep {
  sql: string;
  params: unknown[];
  /** The job stops, and nothing of it is kept, when this step returns no row (a guard that failed). */
  requireRow: boolean;
  /** Its rows are the job's answer (one step of a job at most). */
  returnRows?: boolean;
}

/** Statements that are kept or undone together. */
export type Job = WriteStep[];

/** `error`: what the database refused; otherwise whether every guarded step found its row. */
export interface JobOutcome {
  applied: boolean;
  /** The step that found no row or failed, when the job did not apply. */
  failedStep?: number;
  error?: ErrorInfo;
  /** The rows of the step that returns them, when the job applied. */
  rows?: Record<string, unknown>[];
}

/**
 * A call to the thread is jobs committed in one transaction, each kept or undone on its own; the
 * answer is their outcomes, or what failed them all.
 */
export type JobsAnswer = { outcomes: JobOutcome[] } | { error: ErrorInfo };

/** Messages between the server and its SQLite write thread (sqlite-write.worker.ts). */

/** One statement of a write transaction, with `?NNN` parameters. */
export interface WriteStep {
  sql: string;
  params: unknown[];
  /** The job stops, and nothing of it is kept, when this step returns no row (a guard that failed). */
  requireRow: boolean;
}

/** Statements that succeed or fail together. */
export interface WriteJob {
  id: number;
  steps: WriteStep[];
}

export type WriteOutcome =
  | { applied: true; rows: unknown[][] }
  /** `failedStep`: the guarded step that matched no row; `error`: what the database refused. */
  | { applied: false; failedStep?: number; error?: { message: string; code?: string; errno?: number } };

export interface WorkerReply {
  id: number;
  outcome: WriteOutcome;
}

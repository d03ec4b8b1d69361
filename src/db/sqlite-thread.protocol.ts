/** Messages between the server and its SQLite thread (sqlite.worker.ts). */

/** One statement of a write transaction, with `?NNN` parameters. */
export interface WriteStep {
  sql: string;
  params: unknown[];
  /** The job stops, and nothing of it is kept, when this step returns no row (a guard that failed). */
  requireRow: boolean;
  /**
   * PostgreSQL: the same job in a form any number of such jobs can share. `sql` takes `$1`, an
   * `int[]` of job numbers, then one `text[]` for each value of `row` (the jobs' values column by
   * column), and returns the numbers of the jobs that applied. Jobs of one loop turn with the same
   * `sql` run as one statement (PostgresConnections), whose text does not depend on how many there are,
   * so it is parsed and planned once per connection. `order`: the row the job changes (its key); the
   * jobs of one statement go in this order, and two jobs on one row never share a statement.
   */
  together?: { sql: string; row: unknown[]; order: number };
}

export interface DriverErrorInfo {
  message: string;
  code?: string;
  errno?: number;
}

/** A write: statements that succeed or fail together. (Reads run on the main thread: connections.ts.) */
export type ThreadRequest = { id: number; write: WriteStep[] };

export type WriteOutcome =
  | { applied: true }
  /** `failedStep`: the guarded step that matched no row; `error`: what the database refused. */
  | { applied: false; failedStep?: number; error?: DriverErrorInfo };

export type ThreadReply = { id: number; outcome: WriteOutcome } | { id: number; error: DriverErrorInfo };

import type { DataSource } from 'typeorm';

/**
 * Plain connections for the request hot path (authentication, reading a user, writing a change),
 * beside TypeORM, which keeps everything else. Statements use `$1`, `$2`… on both databases (SQLite
 * reads them as `?1`, `?2`…), and each kind of statement is prepared once and reused.
 *
 * This file is the port and what both adapters share; each database's adapter is in a folder of its
 * own (sqlite/, postgres/), and `hotConnectionsFor` (database.ts) chooses between them.
 */
export interface HotConnections {
  readonly dialect: 'sqlite' | 'postgres';
  /** A read outside any transaction; it sees what has been committed. Rows are arrays in select order. */
  read(sql: string, params: unknown[]): Promise<unknown[][]>;
  /** The rows whose key is `key`, read like `read`; several such reads may be answered by one statement. */
  readKeyed(query: KeyedRead, key: string | number): Promise<unknown[][]>;
  /** Runs the steps in one transaction; a guarded step that matches no row undoes the whole of it. */
  transact(steps: WriteStep[]): Promise<WriteOutcome>;
  /**
   * PostgreSQL only: runs `work` in one transaction on one connection, reading and writing through
   * `tx`, so row locks taken by its reads (`FOR UPDATE`) hold until its writes are done. It commits when
   * `work` resolves and rolls back when it throws.
   */
  inTransaction?<T>(work: (tx: HotConnections) => Promise<T>): Promise<T>;
  /** The connections of the adapter's own pool, when it has one (PostgreSQL). */
  poolState?(): PoolState;
  close(): Promise<void>;
}

/**
 * One statement of a write transaction, with `$1`, `$2`… parameters (SQLite's thread receives them as
 * `?1`, `?2`…).
 */
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

export type WriteOutcome =
  | { applied: true }
  /** `failedStep`: the guarded step that matched no row; `error`: what the database refused. */
  | { applied: false; failedStep?: number; error?: DriverErrorInfo };

/** Connection counts of a pool, for metrics. */
export interface PoolState {
  total: number;
  idle: number;
  waiting: number;
}

/** A read by one key column, written two ways; both select the key as their first column. */
export interface KeyedRead {
  /** `… WHERE <key> = $1` */
  one: string;
  /** `… WHERE <key> = ANY($1)`: the same read for an array of keys at once (PostgreSQL). */
  many: string;
}

/** A database error from a hot-path statement, shaped like TypeORM's `driverError` (code, errno, constraint). */
export class DriverError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly errno?: number,
    readonly constraint?: string,
  ) {
    super(message);
    this.name = 'DriverError';
  }
}

/** These connections live and die with the data source: once it is destroyed, they refuse work too. */
export function requireOpen(dataSource: DataSource): void {
  if (!dataSource.isInitialized) throw new DriverError('The database connection is closed');
}

interface KeyedWaiter {
  key: string | number;
  resolve(rows: unknown[][]): void;
  reject(error: unknown): void;
}

/**
 * Every request reads its credential, and many a user, by one key. The keyed reads of one loop turn
 * are gathered by query and answered by one statement per query (`many`, with all their keys) instead
 * of one statement each; each caller gets the rows whose first column is its key.
 */
export class KeyedReads {
  private pending = new Map<KeyedRead, KeyedWaiter[]>();

  constructor(
    private readonly run: (sql: string, params: unknown[]) => Promise<unknown[][]>,
    /** The parameter that carries several keys to `many`. */
    private readonly keysParam: (keys: Array<string | number>) => unknown,
    /** Arranges for `drain` to run at the end of the loop turn. */
    private readonly schedule: (drain: () => void) => void,
  ) {}

  read(query: KeyedRead, key: string | number): Promise<unknown[][]> {
    if (this.pending.size === 0) this.schedule(() => this.drain());
    let waiters = this.pending.get(query);
    if (!waiters) {
      waiters = [];
      this.pending.set(query, waiters);
    }
    const list = waiters;
    return new Promise((resolve, reject) => list.push({ key, resolve, reject }));
  }

  /** Sends what was gathered; nothing when it was already sent. */
  drain(): void {
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const [query, waiters] of pending) {
      const keys = [...new Set(waiters.map((waiter) => waiter.key))];
      const rows =
        keys.length === 1 ? this.run(query.one, keys) : this.run(query.many, [this.keysParam(keys)]);
      rows.then(
        (found) => {
          const byKey = new Map<string, unknown[][]>();
          for (const row of found) {
            const key = String(row[0]);
            const list = byKey.get(key);
            if (list) list.push(row);
            else byKey.set(key, [row]);
          }
          for (const waiter of waiters) waiter.resolve(byKey.get(String(waiter.key)) ?? []);
        },
        (error: unknown) => {
          for (const waiter of waiters) waiter.reject(error);
        },
      );
    }
  }
}

import { DataSource, EntityManager, QueryFailedError } from 'typeorm';

/**
 * The only way services reach the database. On SQLite TypeORM shares one connection, so two open
 * transactions would interleave on it (and a read could see another request's uncommitted rows):
 * every unit of work is queued there. PostgreSQL uses its pool and row locks instead.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  readonly serialised: boolean;

  constructor(readonly dataSource: DataSource) {
    this.serialised = dataSource.options.type === 'sqlite';
    if (this.serialised) beginTransactionsImmediately(dataSource);
  }

  get isPostgres(): boolean {
    return this.dataSource.options.type === 'postgres';
  }

  /** Runs `work` in one transaction: it commits when `work` resolves and rolls back when it throws. */
  write<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.dataSource.transaction(work));
  }

  /** Runs read-only `work` outside a transaction. */
  read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.dataSource.manager));
  }

  /** Connection counts for metrics: the PostgreSQL pool's, or SQLite's one connection and its queue. */
  poolState(): { total: number; idle: number; waiting: number } {
    if (this.serialised)
      return { total: 1, idle: this.queued === 0 ? 1 : 0, waiting: Math.max(0, this.queued - 1) };
    const pool = (
      this.dataSource.driver as unknown as {
        master?: { totalCount: number; idleCount: number; waitingCount: number };
      }
    ).master;
    return { total: pool?.totalCount ?? 0, idle: pool?.idleCount ?? 0, waiting: pool?.waitingCount ?? 0 };
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (!this.serialised) return work();
    this.queued += 1;
    const run = this.tail.then(work, work).finally(() => {
      this.queued -= 1;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/**
 * On SQLite a deferred transaction that reads and then writes fails at once with SQLITE_BUSY (the busy
 * timeout does not apply) when another process, such as the operator CLI, committed in between.
 * `BEGIN IMMEDIATE` takes the write lock first, so a second writer waits for the busy timeout instead.
 */
function beginTransactionsImmediately(dataSource: DataSource): void {
  // The sqlite driver hands out one shared query runner; TypeORM starts every transaction on it.
  const runner = dataSource.createQueryRunner();
  const query = runner.query.bind(runner) as (sql: string, ...rest: unknown[]) => Promise<unknown>;
  runner.query = ((sql: string, ...rest: unknown[]) =>
    query(sql === 'BEGIN TRANSACTION' ? 'BEGIN IMMEDIATE TRANSACTION' : sql, ...rest)) as typeof runner.query;
}

export interface UniqueViolation {
  /** The index or constraint name when the driver reports it, else the driver's message. */
  constraint: string;
}

/** Recognises a unique-constraint failure from either driver. */
export function uniqueViolation(error: unknown): UniqueViolation | null {
  if (!(error instanceof QueryFailedError)) return null;
  const driverError = (error as QueryFailedError & { driverError?: any }).driverError ?? {};
  if (driverError.code === '23505') return { constraint: String(driverError.constraint ?? '') };
  const message = String(driverError.message ?? error.message);
  if (driverError.code === 'SQLITE_CONSTRAINT' && message.includes('UNIQUE constraint failed')) {
    return { constraint: message };
  }
  return null;
}

import path from 'node:path';
import { DatabaseError } from 'pg';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { DriverError, type HotConnections, type PoolState } from './connections';
import { PostgresConnections } from './postgres/connections';
import { SqliteConnections } from './sqlite/connections';
import { UserStore } from './user-store';

/**
 * The only way services reach the database. The request hot path (authentication, reading and
 * changing a user) goes through `users`, plain prepared statements on connections of its own
 * (connections.ts; an adapter per database in sqlite/ and postgres/). Everything else uses TypeORM:
 * on SQLite TypeORM shares one connection, so two open transactions would interleave on it (and a
 * read could see another request's uncommitted rows), and every unit of work is queued there;
 * PostgreSQL uses its pool.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private hot: HotConnections | null = null;
  private store: UserStore | null = null;
  readonly serialised: boolean;

  constructor(readonly dataSource: DataSource) {
    this.serialised = dataSource.options.type === 'sqlite';
    if (this.serialised) beginTransactionsImmediately(dataSource);
  }

  /** The hot-path statements; the connections open on first use. */
  get users(): UserStore {
    if (!this.store) {
      this.hot = hotConnectionsFor(this.dataSource);
      this.store = new UserStore(this.dataSource, this.hot);
    }
    return this.store;
  }

  /** Closes the hot-path connections (TypeORM's are closed with the data source). */
  async close(): Promise<void> {
    const hot = this.hot;
    this.hot = null;
    this.store = null;
    await hot?.close();
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

  /**
   * Connection counts for metrics: on PostgreSQL the hot path's pool (postgres/connections.ts; TypeORM
   * keeps a second pool for everything else, which has no public counts), none before its first use; on
   * SQLite TypeORM's one connection and its queue.
   */
  poolState(): PoolState {
    if (this.serialised)
      return { total: 1, idle: this.queued === 0 ? 1 : 0, waiting: Math.max(0, this.queued - 1) };
    return this.hot?.poolState?.() ?? { total: 0, idle: 0, waiting: 0 };
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
 * The hot-path connections of a data source, by its database; nothing is opened until first used. (Here
 * rather than in connections.ts, which both adapters import: no import circle.)
 */
export function hotConnectionsFor(dataSource: DataSource): HotConnections {
  if (dataSource.options.type === 'sqlite') {
    const options = dataSource.options as { database: string; busyTimeout?: number };
    return new SqliteConnections(dataSource, path.resolve(options.database), options.busyTimeout ?? 5000);
  }
  return new PostgresConnections(dataSource);
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

/** Recognises a unique-constraint failure from either driver, through TypeORM or from the hot path. */
export function uniqueViolation(error: unknown): UniqueViolation | null {
  const driverError =
    error instanceof QueryFailedError
      ? ((error as QueryFailedError & { driverError?: any }).driverError ?? {})
      : error instanceof DriverError || error instanceof DatabaseError
        ? (error as any)
        : null;
  if (!driverError) return null;
  if (driverError.code === '23505') return { constraint: String(driverError.constraint ?? '') };
  const message = String(driverError.message ?? (error as Error).message);
  if (driverError.code === 'SQLITE_CONSTRAINT' && message.includes('UNIQUE constraint failed')) {
    return { constraint: message };
  }
  return null;
}

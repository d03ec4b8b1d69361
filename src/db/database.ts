import path from 'node:path';
import { DatabaseError } from 'pg';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { DriverError, type PoolState, type UserDataPort } from './port';
import { PostgresAdapter } from './postgres/postgres.adapter';
import { SqliteAdapter } from './sqlite/sqlite.adapter';

/**
 * The only way services reach the database. The request path (authentication, reading and changing a
 * user) goes through `users`, the data port, answered by the adapter of the database in use.
 * Everything else uses TypeORM: on SQLite TypeORM shares one connection, so two open transactions
 * would interleave on it (and a read could see another request's uncommitted rows), and every unit of
 * work is queued there; PostgreSQL uses its pool.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private port: UserDataPort | null = null;
  readonly serialised: boolean;

  /**
   * `warn`: where the port's own connections report what happens to them outside any request (a
   * connection the database ended); TypeORM's logger, off by default, otherwise.
   */
  constructor(
    readonly dataSource: DataSource,
    private readonly warn: (message: string, error: unknown) => void = (message, error) =>
      dataSource.logger.log('warn', `${message} ${String(error)}`),
  ) {
    this.serialised = dataSource.options.type === 'sqlite';
  }

  /** The data port; its connections open on first use. */
  get users(): UserDataPort {
    if (!this.port) {
      const options = this.dataSource.options;
      this.port =
        options.type === 'sqlite'
          ? new SqliteAdapter(this.dataSource, path.resolve(options.database), options.busyTimeout ?? 5000)
          : new PostgresAdapter(this.dataSource, this.warn);
    }
    return this.port;
  }

  /** Closes the port's connections (TypeORM's are closed with the data source). */
  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    await port?.close();
  }

  /** Runs `work` in one transaction: it commits when `work` resolves and rolls back when it throws. */
  write<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (!this.serialised) return this.dataSource.transaction(work);
    return this.exclusive(async () => {
      // TypeORM begins SQLite transactions deferred: one that reads and then writes fails at once with
      // SQLITE_BUSY (the busy timeout does not apply) when another process, such as the operator CLI,
      // committed in between. `BEGIN IMMEDIATE` takes the write lock first, so a second writer waits.
      // Units of work here use no TypeORM call that opens a transaction of its own (save, remove).
      const runner = this.dataSource.createQueryRunner();
      await runner.query('BEGIN IMMEDIATE');
      try {
        const result = await work(runner.manager);
        await runner.query('COMMIT');
        return result;
      } catch (error) {
        await runner.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  /** Runs read-only `work` outside a transaction. */
  read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.dataSource.manager));
  }

  /**
   * Connection counts for metrics: on PostgreSQL the port's pool (TypeORM keeps a second pool, which
   * has no public counts), none before its first use; on SQLite TypeORM's one connection and its queue.
   */
  poolState(): PoolState {
    if (this.serialised)
      return { total: 1, idle: this.queued === 0 ? 1 : 0, waiting: Math.max(0, this.queued - 1) };
    return this.port?.poolState() ?? { total: 0, idle: 0, waiting: 0 };
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

export interface UniqueViolation {
  /** The index or constraint name when the driver reports it, else the driver's message. */
  constraint: string;
}

/** Recognises a unique-constraint failure from either driver, through TypeORM or from the data port. */
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

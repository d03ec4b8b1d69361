import { DataSource, EntityManager, QueryFailedError } from 'typeorm';

/**
 * The only way services reach the database. On SQLite TypeORM shares one connection, so two open
 * transactions would interleave on it (and a read could see another request's uncommitted rows):
 * every unit of work is queued there. PostgreSQL uses its pool and row locks instead.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  readonly serialised: boolean;

  constructor(readonly dataSource: DataSource) {
    this.serialised = dataSource.options.type === 'sqlite';
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

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (!this.serialised) return work();
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
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

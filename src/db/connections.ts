import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Pool } from 'pg';
import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import type { WorkerReply, WriteOutcome, WriteStep } from './sqlite-write.protocol';

/**
 * Plain connections for the request hot path (authentication, reading a user, writing a change),
 * beside TypeORM, which keeps everything else. Statements use `$1`, `$2`… on both databases (SQLite
 * reads them as `?1`, `?2`…), and each kind of statement is prepared once and reused.
 */
export interface HotConnections {
  readonly dialect: 'sqlite' | 'postgres';
  /** A read outside any transaction; it sees what has been committed. */
  read(sql: string, params: unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs the steps in one transaction; a guarded step that matches no row undoes the whole of it. */
  transact(steps: WriteStep[]): Promise<WriteOutcome>;
  close(): Promise<void>;
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
function requireOpen(dataSource: DataSource): void {
  if (!dataSource.isInitialized) throw new DriverError('The database connection is closed');
}

function toSqlite(sql: string): string {
  return sql.replace(/\$(\d+)/g, '?$1');
}

/** Reuses prepared statements: one in use at a time each, more are prepared when requests overlap. */
class StatementPool {
  private readonly idle = new Map<string, sqlite3.Statement[]>();

  constructor(
    private readonly db: sqlite3.Database,
    private readonly maxIdlePerStatement = 16,
  ) {}

  async all(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    let idle = this.idle.get(sql);
    if (!idle) this.idle.set(sql, (idle = []));
    const statement = idle.pop() ?? (await this.prepare(sql));
    return new Promise((resolve, reject) => {
      statement.all(params, (error: Error | null, rows: Record<string, unknown>[]) => {
        if (idle.length < this.maxIdlePerStatement) idle.push(statement);
        else statement.finalize();
        if (error) reject(error);
        else resolve(rows);
      });
    });
  }

  finalizeAll(): void {
    for (const statements of this.idle.values()) for (const statement of statements) statement.finalize();
    this.idle.clear();
  }

  /** A statement that does not prepare (no such table…) fails this call only. */
  private prepare(sql: string): Promise<sqlite3.Statement> {
    return new Promise((resolve, reject) => {
      const statement = this.db.prepare(sql, (error: Error | null) =>
        error ? reject(error) : resolve(statement),
      );
    });
  }
}

interface WriteThread {
  worker: Worker;
  pending: Map<number, (outcome: WriteOutcome) => void>;
}

function sqliteError(error: { message: string; code?: string; errno?: number }): DriverError {
  return new DriverError(error.message, error.code, error.errno);
}

/**
 * SQLite: reads on a read-only connection of the main thread (WAL lets them run beside a write), writes
 * on the write thread (sqlite-write.worker.ts).
 */
class SqliteConnections implements HotConnections {
  readonly dialect = 'sqlite';
  private reader: { db: sqlite3.Database; statements: StatementPool } | null = null;
  private writer: WriteThread | null = null;
  private nextJob = 1;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {}

  async read(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    requireOpen(this.dataSource);
    const reader = await this.openReader();
    try {
      return await reader.statements.all(toSqlite(sql), params);
    } catch (error) {
      throw sqliteError(error as DriverError);
    }
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    requireOpen(this.dataSource);
    const writer = this.writeThread();
    const id = this.nextJob++;
    const outcome = await new Promise<WriteOutcome>((resolve) => {
      writer.pending.set(id, resolve);
      writer.worker.postMessage({ id, steps: steps.map((step) => ({ ...step, sql: toSqlite(step.sql) })) });
    });
    if (!outcome.applied && outcome.error) throw sqliteError(outcome.error);
    return outcome;
  }

  async close(): Promise<void> {
    this.closed = true;
    const writer = this.writer;
    this.writer = null;
    if (writer) await writer.worker.terminate();
    const reader = this.reader;
    this.reader = null;
    if (reader) {
      reader.statements.finalizeAll();
      await new Promise<void>((resolve) => reader.db.close(() => resolve()));
    }
  }

  private async openReader() {
    if (this.reader) return this.reader;
    if (this.closed) throw new DriverError('The database connections are closed');
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const opened = new sqlite3.Database(this.file, sqlite3.OPEN_READONLY, (error) =>
        error ? reject(error) : resolve(opened),
      );
    });
    db.configure('busyTimeout', this.busyTimeoutMs);
    // Two requests may have opened it at once: keep the first.
    if (this.reader) {
      db.close();
      return this.reader;
    }
    this.reader = { db, statements: new StatementPool(db) };
    return this.reader;
  }

  private writeThread(): WriteThread {
    if (this.writer) return this.writer;
    if (this.closed) throw new DriverError('The database connections are closed');
    // Built, the worker is the .js beside this file; from source (tests, the CLI) the .ts, compiled
    // on load by the same register hook.
    const fromSource = path.extname(__filename) === '.ts';
    const worker = new Worker(path.join(__dirname, `sqlite-write.worker${path.extname(__filename)}`), {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs, maxBatch: 64 },
      execArgv: fromSource ? ['--require', '@swc-node/register'] : [],
    });
    worker.unref();
    // Jobs belong to the thread they were sent to: when it dies, their outcome is unknown (it may have
    // committed just before), they fail, and the next job starts a new thread.
    const writer: WriteThread = { worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply) => {
      const resolve = writer.pending.get(reply.id);
      writer.pending.delete(reply.id);
      resolve?.(reply.outcome);
    });
    const fail = (message: string) => {
      if (this.writer === writer) this.writer = null;
      for (const resolve of writer.pending.values()) resolve({ applied: false, error: { message } });
      writer.pending.clear();
    };
    worker.on('error', (error) => fail(`The database write thread failed: ${error.message}`));
    worker.on('exit', (code) => fail(`The database write thread stopped (exit code ${code})`));
    this.writer = writer;
    return writer;
  }
}

/** PostgreSQL: TypeORM's own pool, with named (server-side prepared) statements. */
class PostgresConnections implements HotConnections {
  readonly dialect = 'postgres';
  private readonly names = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly pool: Pool,
  ) {}

  async read(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    requireOpen(this.dataSource);
    return (await this.pool.query({ name: this.nameOf(sql), text: sql, values: params })).rows;
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    if (steps.length === 1) {
      // One statement is a transaction of its own.
      const rows = await this.read(steps[0].sql, steps[0].params);
      return steps[0].requireRow && rows.length === 0
        ? { applied: false, failedStep: 0 }
        : { applied: true, rows: [rows] };
    }
    requireOpen(this.dataSource);
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const results: unknown[][] = [];
      for (let index = 0; index < steps.length; index++) {
        const { sql, params, requireRow } = steps[index];
        const { rows } = await client.query({ name: this.nameOf(sql), text: sql, values: params });
        if (requireRow && rows.length === 0) {
          await client.query('ROLLBACK');
          return { applied: false, failedStep: index };
        }
        results.push(rows);
      }
      await client.query('COMMIT');
      return { applied: true, rows: results };
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        broken = rollbackError;
      });
      throw error;
    } finally {
      // A connection whose rollback failed is in an unknown state: the pool drops it.
      client.release(broken as Error | undefined);
    }
  }

  async close(): Promise<void> {
    // The pool is TypeORM's; it closes it.
  }

  private nameOf(sql: string): string {
    let name = this.names.get(sql);
    if (!name) {
      name = `hot_${crypto.createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
      this.names.set(sql, name);
    }
    return name;
  }
}

/** The hot-path connections of a data source; nothing is opened until first used. */
export function hotConnectionsFor(dataSource: DataSource): HotConnections {
  if (dataSource.options.type === 'sqlite') {
    const options = dataSource.options as { database: string; busyTimeout?: number };
    return new SqliteConnections(dataSource, path.resolve(options.database), options.busyTimeout ?? 5000);
  }
  const pool = (dataSource.driver as unknown as { master?: Pool }).master;
  if (!pool) throw new Error('The PostgreSQL data source is not initialised');
  return new PostgresConnections(dataSource, pool);
}

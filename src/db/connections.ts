import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Pool, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import type {
  DriverErrorInfo,
  ThreadReply,
  ThreadRequest,
  WriteOutcome,
  WriteStep,
} from './sqlite-thread.protocol';

/**
 * Plain connections for the request hot path (authentication, reading a user, writing a change),
 * beside TypeORM, which keeps everything else. Statements use `$1`, `$2`… on both databases (SQLite
 * reads them as `?1`, `?2`…), and each kind of statement is prepared once and reused.
 */
export interface HotConnections {
  readonly dialect: 'sqlite' | 'postgres';
  /** A read outside any transaction; it sees what has been committed. Rows are arrays in select order. */
  read(sql: string, params: unknown[]): Promise<unknown[][]>;
  /** Runs the steps in one transaction; a guarded step that matches no row undoes the whole of it. */
  transact(steps: WriteStep[]): Promise<WriteOutcome>;
  /**
   * PostgreSQL only: runs `work` in one transaction on one connection, reading and writing through
   * `tx`, so row locks taken by its reads (`FOR UPDATE`) hold until its writes are done. It commits when
   * `work` resolves and rolls back when it throws.
   */
  inTransaction?<T>(work: (tx: HotConnections) => Promise<T>): Promise<T>;
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

const sqliteText = new Map<string, string>();

/** `$1` → `?1`; the statements are a fixed set, so each is converted once. */
function toSqlite(sql: string): string {
  let text = sqliteText.get(sql);
  if (text === undefined) {
    text = sql.replace(/\$(\d+)/g, '?$1');
    if (sqliteText.size < 1024) sqliteText.set(sql, text);
  }
  return text;
}

function sqliteError(error: DriverErrorInfo): DriverError {
  return new DriverError(error.message, error.code, error.errno);
}

interface DatabaseThread {
  worker: Worker;
  /** Answers still to come, by request id: they belong to this thread and die with it. */
  pending: Map<number, (reply: ThreadReply) => void>;
  /** Requests of this loop turn, sent together at its end. */
  outbox: ThreadRequest[];
}

/**
 * SQLite: every hot-path statement runs on the database thread (sqlite.worker.ts). The requests of one
 * loop turn leave in one message, so the main thread wakes that thread once per turn, not per statement.
 */
class SqliteConnections implements HotConnections {
  readonly dialect = 'sqlite';
  private thread: DatabaseThread | null = null;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {}

  async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    const reply = await this.send((id) => ({ id, read: { sql: toSqlite(sql), params } }));
    if ('error' in reply) throw sqliteError(reply.error);
    return 'rows' in reply ? reply.rows : [];
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    const reply = await this.send((id) => ({
      id,
      write: steps.map((step) => ({ ...step, sql: toSqlite(step.sql) })),
    }));
    if ('error' in reply) throw sqliteError(reply.error);
    if (!('outcome' in reply)) throw new DriverError('The database thread answered a write with rows');
    if (!reply.outcome.applied && reply.outcome.error) throw sqliteError(reply.outcome.error);
    return reply.outcome;
  }

  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    this.thread = null;
    if (thread) await thread.worker.terminate();
  }

  private send(request: (id: number) => ThreadRequest): Promise<ThreadReply> {
    requireOpen(this.dataSource);
    const thread = this.databaseThread();
    const message = request(this.nextId++);
    return new Promise((resolve) => {
      thread.pending.set(message.id, resolve);
      if (thread.outbox.length === 0) setImmediate(() => this.flush(thread));
      thread.outbox.push(message);
    });
  }

  private flush(thread: DatabaseThread): void {
    const requests = thread.outbox;
    thread.outbox = [];
    // A thread that died in the meantime has already failed these requests.
    if (this.thread === thread) thread.worker.postMessage(requests);
  }

  private databaseThread(): DatabaseThread {
    if (this.thread) return this.thread;
    if (this.closed) throw new DriverError('The database connections are closed');
    // Built, the worker is the .js beside this file; from source (tests, the CLI) the .ts, compiled
    // on load by the same register hook.
    const fromSource = path.extname(__filename) === '.ts';
    const worker = new Worker(path.join(__dirname, `sqlite.worker${path.extname(__filename)}`), {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs, maxBatch: 64, readers: 2 },
      execArgv: fromSource ? ['--require', '@swc-node/register'] : [],
    });
    worker.unref();
    // When the thread dies, the outcome of what it was doing is unknown (a write may have committed
    // just before): those requests fail, and the next request starts a new thread.
    const thread: DatabaseThread = { worker, pending: new Map(), outbox: [] };
    worker.on('message', (replies: ThreadReply[]) => {
      for (const reply of replies) {
        const resolve = thread.pending.get(reply.id);
        thread.pending.delete(reply.id);
        resolve?.(reply);
      }
    });
    const fail = (message: string) => {
      if (this.thread === thread) this.thread = null;
      for (const [id, resolve] of thread.pending) resolve({ id, error: { message } });
      thread.pending.clear();
    };
    worker.on('error', (error) => fail(`The database thread failed: ${error.message}`));
    worker.on('exit', (code) => fail(`The database thread stopped (exit code ${code})`));
    this.thread = thread;
    return thread;
  }
}

const MAX_PREPARED = 256;

/** PostgreSQL: TypeORM's own pool, with named (server-side prepared) statements. */
class PostgresConnections implements HotConnections {
  readonly dialect = 'postgres';
  private readonly names = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly pool: Pool,
  ) {}

  async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    return (await this.pool.query({ name: this.nameOf(sql), text: sql, values: params, rowMode: 'array' }))
      .rows;
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    if (steps.length === 1) {
      // One statement is a transaction of its own.
      const rows = await this.read(steps[0].sql, steps[0].params);
      return steps[0].requireRow && rows.length === 0 ? { applied: false, failedStep: 0 } : { applied: true };
    }
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      const failedStep = await runSteps(client, steps, this.nameOf);
      await client.query(failedStep < 0 ? 'COMMIT' : 'ROLLBACK');
      return failedStep < 0 ? { applied: true } : { applied: false, failedStep };
    });
  }

  async inTransaction<T>(work: (tx: HotConnections) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      const result = await work(new PostgresTransaction(client, this.nameOf));
      await client.query('COMMIT');
      return result;
    });
  }

  /** A pooled connection for `work`; when `work` throws, its transaction is rolled back. */
  private async withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    requireOpen(this.dataSource);
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      return await work(client);
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

  /**
   * A name makes `pg` prepare the statement once per connection and reuse it. Texts past the first
   * MAX_PREPARED (an UPDATE's text depends on which columns change) go unnamed, so that no sequence of
   * requests can fill the server with prepared statements.
   */
  private readonly nameOf = (sql: string): string | undefined => {
    let name = this.names.get(sql);
    if (!name && this.names.size < MAX_PREPARED) {
      name = `hot_${crypto.createHash('sha1').update(sql).digest('hex').slice(0, 16)}`;
      this.names.set(sql, name);
    }
    return name;
  };
}

/** Runs the steps in order on `client`; the index of the guarded step that matched no row, or -1. */
async function runSteps(
  client: PoolClient,
  steps: WriteStep[],
  nameOf: (sql: string) => string | undefined,
): Promise<number> {
  for (let index = 0; index < steps.length; index++) {
    const { sql, params, requireRow } = steps[index];
    const { rows } = await client.query({ name: nameOf(sql), text: sql, values: params });
    if (requireRow && rows.length === 0) return index;
  }
  return -1;
}

/** Statements inside a transaction that PostgresConnections.inTransaction opened. */
class PostgresTransaction implements HotConnections {
  readonly dialect = 'postgres';

  constructor(
    private readonly client: PoolClient,
    private readonly nameOf: (sql: string) => string | undefined,
  ) {}

  async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    return (await this.client.query({ name: this.nameOf(sql), text: sql, values: params, rowMode: 'array' }))
      .rows;
  }

  /** The steps succeed or fail together (a savepoint), inside the open transaction. */
  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    await this.client.query('SAVEPOINT hot_steps');
    const failedStep = await runSteps(this.client, steps, this.nameOf);
    await this.client.query(
      failedStep < 0 ? 'RELEASE SAVEPOINT hot_steps' : 'ROLLBACK TO SAVEPOINT hot_steps',
    );
    return failedStep < 0 ? { applied: true } : { applied: false, failedStep };
  }

  async close(): Promise<void> {
    // The connection goes back to the pool when the transaction ends.
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

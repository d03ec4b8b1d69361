import crypto from 'node:crypto';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Pool, PoolClient } from 'pg';
import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import { describeError, openDatabase, StatementPool } from './sqlite-statements';
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
  close(): Promise<void>;
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
function requireOpen(dataSource: DataSource): void {
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
class KeyedReads {
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

/** Read-only connections of the main thread; reads go to them in turn. */
const READERS = 2;

/**
 * SQLite. Reads run on read-only connections of the main thread, as the bare `sqlite3` baseline reads:
 * a read is one trip to sqlite3's thread pool and back, and in WAL mode it sees what has committed and
 * never waits for a writer. Writes run on the database thread (sqlite.worker.ts), which commits the
 * writes that arrive together in one transaction; the writes of one loop turn leave in one message, so
 * the main thread wakes that thread once per turn, not per statement.
 */
class SqliteConnections implements HotConnections {
  readonly dialect = 'sqlite';
  private thread: DatabaseThread | null = null;
  private readers: Promise<StatementPool[]> | null = null;
  private nextReader = 0;
  private nextId = 1;
  private closed = false;
  private flushScheduled = false;
  private readonly keyed = new KeyedReads(
    (sql, params) => this.read(sql, params),
    (keys) => JSON.stringify(keys),
    () => this.scheduleFlush(),
  );

  constructor(
    private readonly dataSource: DataSource,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {}

  async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    if (this.closed) throw new DriverError('The database connections are closed');
    const readers = await (this.readers ??= this.openReaders());
    try {
      const rows = await readers[this.nextReader++ % readers.length].all(toSqlite(sql), params);
      return rows.map((row) => Object.values(row));
    } catch (error) {
      throw sqliteError(describeError(error));
    }
  }

  /** Opened on the first read; when that fails, the read fails and the next read tries again. */
  private openReaders(): Promise<StatementPool[]> {
    const opening = this.connectReaders();
    opening.catch(() => {
      if (this.readers === opening) this.readers = null;
    });
    return opening;
  }

  private async connectReaders(): Promise<StatementPool[]> {
    const readers: StatementPool[] = [];
    try {
      for (let i = 0; i < READERS; i++) {
        const db = await openDatabase(this.file, sqlite3.OPEN_READONLY);
        db.configure('busyTimeout', this.busyTimeoutMs);
        readers.push(new StatementPool(db));
      }
      return readers;
    } catch (error) {
      await Promise.all(readers.map((reader) => reader.close()));
      throw sqliteError(describeError(error));
    }
  }

  /** Keyed reads of a loop turn go to a reader as one statement per query (KeyedReads). */
  readKeyed(query: KeyedRead, key: string | number): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    return this.keyed.read(query, key);
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    const reply = await this.send((id) => ({
      id,
      write: steps.map((step) => ({ ...step, sql: toSqlite(step.sql) })),
    }));
    if ('error' in reply) throw sqliteError(reply.error);
    if (!reply.outcome.applied && reply.outcome.error) throw sqliteError(reply.outcome.error);
    return reply.outcome;
  }

  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    const readers = this.readers;
    this.thread = null;
    this.readers = null;
    if (thread) await thread.worker.terminate();
    if (readers) await Promise.all((await readers.catch(() => [])).map((reader) => reader.close()));
  }

  private send(request: (id: number) => ThreadRequest): Promise<ThreadReply> {
    requireOpen(this.dataSource);
    const thread = this.databaseThread();
    const message = request(this.nextId++);
    return new Promise((resolve) => {
      thread.pending.set(message.id, resolve);
      thread.outbox.push(message);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** The end of a loop turn: its keyed reads leave, and the outbox leaves in one message. */
  private flush(): void {
    try {
      this.keyed.drain();
    } finally {
      this.flushScheduled = false;
    }
    // A thread that died in the meantime has already failed what it had; its outbox went with it.
    const thread = this.thread;
    if (!thread || thread.outbox.length === 0) return;
    const requests = thread.outbox;
    thread.outbox = [];
    thread.worker.postMessage(requests);
  }

  private databaseThread(): DatabaseThread {
    if (this.thread) return this.thread;
    if (this.closed) throw new DriverError('The database connections are closed');
    // Built, the worker is the .js beside this file; from source (tests, the CLI) the .ts, compiled
    // on load by the same register hook.
    const fromSource = path.extname(__filename) === '.ts';
    const worker = new Worker(path.join(__dirname, `sqlite.worker${path.extname(__filename)}`), {
      workerData: { file: this.file, busyTimeoutMs: this.busyTimeoutMs, maxBatch: 64 },
      execArgv: fromSource ? ['--require', '@swc-node/register'] : [],
      // The thread's garbage is short-lived (messages, rows); a small young generation collects it as
      // well, where V8's default lets it grow to 48 MB, which the process's memory kept (RSS) after.
      resourceLimits: { maxYoungGenerationSizeMb: 6 },
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
/** Jobs per statement when writing together: a refused statement runs this many again, one by one. */
const MAX_JOBS_TOGETHER = 32;

/** PostgreSQL: TypeORM's own pool, with named (server-side prepared) statements. */
class PostgresConnections implements HotConnections {
  readonly dialect = 'postgres';
  private readonly names = new Map<string, string>();
  private pendingWrites: PendingWrite[] = [];
  private readonly keyed = new KeyedReads(
    (sql, params) => this.read(sql, params),
    (keys) => keys,
    (drain) => setImmediate(drain),
  );

  constructor(
    private readonly dataSource: DataSource,
    private readonly pool: Pool,
  ) {}

  async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    return arrayRows(this.pool, this.nameOf(sql), sql, params);
  }

  /** Keyed reads of a loop turn go to the server together (KeyedReads). */
  readKeyed(query: KeyedRead, key: string | number): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    return this.keyed.read(query, key);
  }

  async transact(steps: WriteStep[]): Promise<WriteOutcome> {
    if (steps.length === 1) {
      // One statement is a transaction of its own; several of them may share one (writeTogether).
      const rows = steps[0].together
        ? await this.writeTogether(steps[0])
        : await this.read(steps[0].sql, steps[0].params);
      return steps[0].requireRow && rows.length === 0 ? { applied: false, failedStep: 0 } : { applied: true };
    }
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      const failedStep = await runSteps(client, steps, this.nameOf);
      await client.query(failedStep < 0 ? 'COMMIT' : 'ROLLBACK');
      return failedStep < 0 ? { applied: true } : { applied: false, failedStep };
    });
  }

  /**
   * A job with a `together` form joins the others of this loop turn that have the same one: they run as
   * one statement, their values passed column by column as arrays, and each job learns whether it
   * applied. One statement commits once and takes one round trip for all of them. Should it fail (a
   * unique index, a deadlock), nothing of it was kept and each job runs again alone, so one job's
   * failure stays its own.
   */
  private writeTogether(step: WriteStep): Promise<unknown[][]> {
    requireOpen(this.dataSource);
    if (this.pendingWrites.length === 0) setImmediate(() => this.flushWrites());
    return new Promise((resolve, reject) => this.pendingWrites.push({ step, resolve, reject }));
  }

  private flushWrites(): void {
    const groups = new Map<string, PendingWrite[]>();
    for (const job of this.pendingWrites) {
      const sql = job.step.together!.sql;
      const group = groups.get(sql);
      if (group) group.push(job);
      else groups.set(sql, [job]);
    }
    this.pendingWrites = [];
    for (const [sql, jobs] of groups) {
      jobs.sort((a, b) => a.step.together!.order - b.step.together!.order);
      let batch: PendingWrite[] = [];
      for (const job of jobs) {
        // Two jobs on one row go in different statements (an UPDATE … FROM changes a row once).
        const previous = batch[batch.length - 1];
        if (
          batch.length === MAX_JOBS_TOGETHER ||
          previous?.step.together!.order === job.step.together!.order
        ) {
          this.writeJobs(sql, batch);
          batch = [];
        }
        batch.push(job);
      }
      this.writeJobs(sql, batch);
    }
  }

  private writeJobs(sql: string, jobs: PendingWrite[]): void {
    const alone = (job: PendingWrite) =>
      this.read(job.step.sql, job.step.params).then(job.resolve, job.reject);
    if (jobs.length === 1) {
      void alone(jobs[0]);
      return;
    }
    const columns: unknown[][] = jobs[0].step.together!.row.map(() => []);
    for (const job of jobs) {
      const { row } = job.step.together!;
      for (let column = 0; column < columns.length; column++) columns[column].push(row[column]);
    }
    arrayRows(this.pool, this.nameOf(sql), sql, [jobs.map((_, index) => index), ...columns]).then(
      (rows) => {
        const applied = new Set(rows.map((row) => Number(row[0])));
        jobs.forEach((job, index) => job.resolve(applied.has(index) ? [[index]] : []));
      },
      () => {
        for (const job of jobs) void alone(job);
      },
    );
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

interface PendingWrite {
  step: WriteStep;
  resolve(rows: unknown[][]): void;
  reject(error: unknown): void;
}

/** One statement on the pool or on a connection, its rows as arrays in select order. */
async function arrayRows(
  on: Pool | PoolClient,
  name: string | undefined,
  sql: string,
  params: unknown[],
): Promise<unknown[][]> {
  return (await on.query({ name, text: sql, values: params, rowMode: 'array' })).rows;
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

  read(sql: string, params: unknown[]): Promise<unknown[][]> {
    return arrayRows(this.client, this.nameOf(sql), sql, params);
  }

  readKeyed(query: KeyedRead, key: string | number): Promise<unknown[][]> {
    return this.read(query.one, [key]);
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

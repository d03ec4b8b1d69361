/**
 * The SQLite adapter of the hot path: the port it implements, and what it shares with the PostgreSQL
 * adapter, are in ../connections.ts.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import {
  DriverError,
  KeyedReads,
  requireOpen,
  type DriverErrorInfo,
  type HotConnections,
  type KeyedRead,
  type WriteOutcome,
  type WriteStep,
} from '../connections';
import { describeError, openDatabase, StatementPool } from './statements';
import type { ThreadReply, ThreadRequest } from './thread.protocol';

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
export class SqliteConnections implements HotConnections {
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

/**
 * The PostgreSQL adapter of the hot path: the port it implements, and what it shares with the SQLite
 * adapter, are in ../connections.ts.
 */
import crypto from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import {
  KeyedReads,
  requireOpen,
  type HotConnections,
  type KeyedRead,
  type PoolState,
  type WriteOutcome,
  type WriteStep,
} from '../connections';

const MAX_PREPARED = 256;
/** Jobs per statement when writing together: a refused statement runs this many again, one by one. */
const MAX_JOBS_TOGETHER = 32;

/** PostgreSQL: a pool of its own (openPool), with named (server-side prepared) statements. */
export class PostgresConnections implements HotConnections {
  readonly dialect = 'postgres';
  private readonly pool: Pool;
  private ended: Promise<void> | null = null;
  private readonly names = new Map<string, string>();
  private pendingWrites: PendingWrite[] = [];
  private readonly keyed = new KeyedReads(
    (sql, params) => this.read(sql, params),
    (keys) => keys,
    (drain) => setImmediate(drain),
  );

  constructor(private readonly dataSource: DataSource) {
    this.pool = openPool(dataSource);
  }

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

  /** Ends the pool: its connections close once the statements running on them are done. */
  close(): Promise<void> {
    return (this.ended ??= this.pool.end());
  }

  poolState(): PoolState {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
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

/**
 * The hot path's own `pg` pool, the one place this adapter reads the data source's configuration. TypeORM
 * offers no public access to the pool it keeps (it is a field of its driver), so rather than borrow that
 * one, the adapter opens another from the same options, mapped as TypeORM maps them for its pool
 * (PostgresDriver.createPool: the URL or host/port/user/password/database, `ssl`, `connectTimeoutMS`,
 * `applicationName`, `poolSize`, then `extra`). Each pool keeps up to `extra.max` (10) connections, so the
 * process holds up to twice that to the server: 10 for the hot path, 10 for TypeORM. Connections open on
 * first use and close after 10 s idle (pg's default), or when the adapter is closed (Database.close).
 */
function openPool(dataSource: DataSource): Pool {
  const options = dataSource.options;
  if (options.type !== 'postgres') throw new Error('Not a PostgreSQL data source');
  const pool = new Pool({
    connectionString: options.url,
    host: options.host,
    user: options.username,
    password: options.password,
    database: options.database,
    port: options.port,
    ssl: options.ssl,
    connectionTimeoutMillis: options.connectTimeoutMS,
    application_name: options.applicationName,
    max: options.poolSize,
    ...options.extra,
  });
  // An idle connection that fails (the server restarted) is dropped by the pool; unheard, the error
  // would end the process. Reported like TypeORM reports its pool's.
  pool.on(
    'error',
    options.poolErrorHandler ??
      ((error) => dataSource.logger.log('warn', `Postgres pool raised an error. ${String(error)}`)),
  );
  return pool;
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
export class PostgresTransaction implements HotConnections {
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

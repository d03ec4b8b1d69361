import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import { Role, UserStatus } from '../../entities/enums';
import type { User } from '../../entities/user.entity';
import {
  DriverError,
  type ChangeResult,
  type DeliverySettlement,
  type GuardedUserChange,
  type LeasedDeliveryRow,
  type UserDataPort,
} from '../port';
import { EntityRows, KeyedReads, leasedDelivery, type KeyedReadName } from '../rows';
import { ThreadCalls } from '../../worker-thread';
import { deliveryStatements } from './delivery-statements';
import { describeError, openDatabase, StatementPool, type ErrorInfo } from './statements';
import type { Job, JobOutcome, JobsAnswer } from './thread.protocol';

/** Read-only connections of the main thread; reads go to them in turn. */
const READERS = 2;

/** The index of the job whose steps include step `step` of all the jobs' steps laid end to end. */
function jobOf(jobs: Job[], step: number): number {
  let index = 0;
  for (let seen = jobs[0].length; seen <= step; seen += jobs[index].length) index++;
  return index;
}

function driverError(error: ErrorInfo): DriverError {
  return new DriverError(error.message, error.code, error.errno);
}

/** The statements of the request path, in SQLite's dialect (`?N` parameters), built once from the metadata. */
function statements(rows: EntityRows) {
  const userColumns = `${EntityRows.select(rows.user, 'u')}, ${EntityRows.select(rows.organization, 'o')}`;
  const users = `FROM "users" u JOIN "organizations" o ON o."id" = u."organization_id"`;
  const credentials = `FROM "credentials" c JOIN "users" u ON u."id" = c."user_id" JOIN "organizations" o ON o."id" = u."organization_id"`;
  const credentialColumns = `${EntityRows.select(rows.credential, 'c')}, ${userColumns}`;
  // Each read selects its key first; `many` takes the keys as one JSON array.
  const keyed = (key: string, columns: string, from: string) => ({
    one: `SELECT ${key} AS "k", ${columns} ${from} WHERE ${key} = ?1`,
    many: `SELECT ${key} AS "k", ${columns} ${from} WHERE ${key} IN (SELECT "value" FROM json_each(?1))`,
  });
  const updated = rows.updated.length;
  const [caller, keep, follows, claim, admin, active] = [1, 2, 3, 4, 5, 6].map((n) => `?${updated + 2 + n}`);
  return {
    userById: keyed('u."id"', userColumns, users),
    userByNumericId: keyed('u."numeric_id"', userColumns, users),
    credentialBySecretHash: keyed('c."secret_hash"', credentialColumns, credentials),
    credentialById: keyed('c."id"', credentialColumns, credentials),
    otherActiveAdmins: `SELECT COUNT(*) FROM "users" WHERE "organization_id" = ?1 AND "role" = ?2 AND "status" = ?3 AND "numeric_id" <> ?4`,
    uniqueValueTaken: `SELECT "email_lower" = ?2 FROM "users" WHERE "organization_id" = ?1 AND "numeric_id" <> ?4 AND ("email_lower" = ?2 OR "username_lower" = ?3) ORDER BY 1 DESC LIMIT 1`,
    touchCredential: `UPDATE "credentials" SET "last_used_at" = ?1 WHERE "id" = ?2 RETURNING "id"`,
    claimStands: `SELECT 1 FROM "idempotency_keys" WHERE "id" = ?1 AND "applied_result" IS NULL`,
    recordOutcome: `UPDATE "idempotency_keys" SET "applied_result" = ?1 WHERE "id" = ?2 AND "applied_result" IS NULL RETURNING "id"`,
    // ?1 numeric id, ?2 the version it was read at, then the written columns, then the guards' values;
    // a guard whose value is NULL (or 0) does not apply.
    change:
      `UPDATE "users" SET ${rows.updated.map((column, index) => `"${column.databaseName}" = ?${index + 3}`).join(', ')}, ` +
      `"version" = "version" + 1 WHERE "numeric_id" = ?1 AND "version" = ?2` +
      ` AND (${caller} IS NULL OR EXISTS (SELECT 1 FROM "users" c WHERE c."numeric_id" = ${caller}` +
      ` AND c."organization_id" = "users"."organization_id" AND c."role" = ${admin} AND c."status" = ${active}))` +
      ` AND (${keep} = 0 OR EXISTS (SELECT 1 FROM "users" a WHERE a."organization_id" = "users"."organization_id"` +
      ` AND a."role" = ${admin} AND a."status" = ${active} AND a."numeric_id" <> "users"."numeric_id"))` +
      ` AND (${follows} IS NULL OR EXISTS (SELECT 1 FROM "user_changes" WHERE "id" = ${follows}))` +
      ` AND (${claim} IS NULL OR EXISTS (SELECT 1 FROM "idempotency_keys" WHERE "id" = ${claim} AND "applied_result" IS NULL))` +
      ` RETURNING "version"`,
    // The steps after the UPDATE write only if the one before them did (`changes()`).
    history:
      `INSERT INTO "user_changes" (${EntityRows.names(rows.history)}) ` +
      `SELECT ${rows.history.map((_, index) => `?${index + 1}`).join(', ')} WHERE changes() > 0`,
    claimOutcome: `UPDATE "idempotency_keys" SET "applied_result" = ?1 WHERE "id" = ?2 AND changes() > 0`,
    event:
      `INSERT INTO "user_events" (${EntityRows.names(rows.event)}, "dispatched") ` +
      `SELECT ${rows.event.map((_, index) => `?${index + 1}`).join(', ')}, NOT EXISTS (SELECT 1 FROM "webhook_endpoints" w ` +
      `WHERE w."organization_id" = ?${rows.eventOrganization + 1} AND w."enabled" = 1) WHERE changes() > 0`,
    mail:
      `INSERT INTO "mail_outbox" (${EntityRows.names(rows.mail)}) ` +
      `SELECT ${rows.mail.map((_, index) => `?${index + 1}`).join(', ')} WHERE changes() > 0`,
  };
}

/**
 * The SQLite adapter. Reads run on read-only connections of the main thread, as the bare `sqlite3`
 * baseline reads: one trip to sqlite3's thread pool, and in WAL mode a read sees what has committed
 * and never waits for a writer. Writes run on the database thread (sqlite.worker.ts), which commits
 * the writes that arrive together in one transaction; the writes of one loop turn leave in one
 * message, so the main thread wakes that thread once per turn, not per statement.
 */
export class SqliteAdapter extends KeyedReads implements UserDataPort {
  protected readonly rows: EntityRows;
  private readonly sql: ReturnType<typeof statements>;
  private readonly thread: ThreadCalls<Job[], JobsAnswer>;
  private readers: Promise<StatementPool[]> | null = null;
  private nextReader = 0;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    super();
    this.rows = new EntityRows(dataSource);
    this.sql = statements(this.rows);
    this.thread = new ThreadCalls<Job[], JobsAnswer>({
      dir: __dirname,
      name: 'sqlite.worker',
      label: 'database',
      workerData: { file, busyTimeoutMs, maxBatch: 256 },
      // The thread's garbage is short-lived (messages, rows); a small young generation collects it as
      // well, where V8's default lets it grow to 48 MB, which the process's memory kept (RSS) after.
      resourceLimits: { maxYoungGenerationSizeMb: 6 },
      // When the thread dies, the outcome of what it was doing is unknown (a write may have committed
      // just before): those writes fail, and the next one starts a new thread.
      failed: (message) => ({ error: { message } }),
    });
  }

  protected readKeys(name: KeyedReadName, keys: readonly (string | number)[]): Promise<unknown[][]> {
    const query = this.sql[name];
    return keys.length === 1
      ? this.read(query.one, [keys[0]])
      : this.read(query.many, [JSON.stringify(keys)]);
  }

  async otherActiveAdmins(organizationId: string, exceptNumericId: number): Promise<number> {
    const params = [organizationId, Role.ADMIN, UserStatus.ACTIVE, exceptNumericId];
    return Number((await this.read(this.sql.otherActiveAdmins, params))[0][0]);
  }

  async touchCredential(id: string, lastUsedAt: string): Promise<void> {
    await this.writeOne(this.sql.touchCredential, [lastUsedAt, id]);
  }

  async uniqueValueTaken(user: User): Promise<'email' | 'username' | null> {
    const params = [user.organizationId, user.emailLower, user.usernameLower, user.numericId];
    const [row] = await this.read(this.sql.uniqueValueTaken, params);
    return row ? (row[0] ? 'email' : 'username') : null;
  }

  async claimStands(claimId: string): Promise<boolean> {
    return (await this.read(this.sql.claimStands, [claimId])).length > 0;
  }

  recordOutcome(claimId: string, result: string): Promise<boolean> {
    return this.writeOne(this.sql.recordOutcome, [result, claimId]);
  }

  async applyChanges(
    changes: GuardedUserChange[],
    options: { atomic?: boolean } = {},
  ): Promise<ChangeResult[]> {
    const jobs = changes.map((change): Job => {
      const { updated, history, event, mail } = this.rows.changeValues(change);
      const { user, callerMustBeAdmin, keepAnotherAdmin, follows, claim } = change;
      const guards = [
        callerMustBeAdmin,
        keepAnotherAdmin ? 1 : 0,
        follows,
        claim?.id ?? null,
        Role.ADMIN,
        UserStatus.ACTIVE,
      ];
      const job: Job = [
        {
          sql: this.sql.change,
          params: [user.numericId, user.version - 1, ...updated, ...guards],
          requireRow: true,
        },
        { sql: this.sql.history, params: history, requireRow: false },
        { sql: this.sql.event, params: event, requireRow: false },
        ...mail.map((params) => ({ sql: this.sql.mail, params, requireRow: false })),
      ];
      if (claim)
        job.push({ sql: this.sql.claimOutcome, params: [claim.result, claim.id], requireRow: false });
      return job;
    });
    const result = (outcome: JobOutcome): ChangeResult =>
      outcome.error ? { error: driverError(outcome.error) } : outcome.applied ? 'applied' : 'guard-failed';
    if (!options.atomic) return (await this.write(jobs)).map(result);
    // Atomic: one job of all the changes' steps, kept or undone as one.
    const [outcome] = await this.write([jobs.flat()]);
    if (outcome.applied) return changes.map(() => 'applied');
    const failed = outcome.failedStep === undefined ? -1 : jobOf(jobs, outcome.failedStep);
    return changes.map((_, index) => (index === failed || failed < 0 ? result(outcome) : 'undone'));
  }

  async dispatchEvents(now: string, limit: number, until: string): Promise<LeasedDeliveryRow[]> {
    const { dispatch, markDispatched } = deliveryStatements;
    const rows = await this.writeJob([
      { sql: dispatch, params: [now, limit, until], requireRow: false, returnRows: true },
      { sql: markDispatched, params: [limit], requireRow: false },
    ]);
    return rows.filter((row) => row.ready).map((row) => leasedDelivery(Object.values(row).slice(1)));
  }

  async replayEvents(endpointId: string, since: string, now: string): Promise<number> {
    const sql = deliveryStatements.replay;
    const params = [now, endpointId, null, since];
    return (await this.writeJob([{ sql, params, requireRow: false, returnRows: true }])).length;
  }

  async leaseDeliveries(now: string, until: string, limit: number): Promise<LeasedDeliveryRow[]> {
    const sql = deliveryStatements.lease;
    const rows = await this.writeJob([
      { sql, params: [now, until, limit], requireRow: false, returnRows: true },
    ]);
    return rows.map((row) => leasedDelivery(Object.values(row)));
  }

  async settleDeliveries(settlements: DeliverySettlement[], at: string): Promise<void> {
    const json = JSON.stringify(settlements);
    const { settle, readyNext, lastSuccess } = deliveryStatements;
    await this.writeJob([
      { sql: settle, params: [json, at], requireRow: false },
      { sql: readyNext, params: [json], requireRow: false },
      { sql: lastSuccess, params: [json, at], requireRow: false },
    ]);
  }

  /** SQLite has no row locks: writers in other processes wait for the write lock instead. */
  async withUserLocked<T>(
    id: string,
    work: (target: User | null, port: UserDataPort) => Promise<T>,
  ): Promise<T> {
    return work(await this.userById(id), this);
  }

  poolState(): null {
    return null;
  }

  async close(): Promise<void> {
    this.closed = true;
    const readers = this.readers;
    this.readers = null;
    await this.thread.close();
    if (readers) await Promise.all((await readers.catch(() => [])).map((reader) => reader.close()));
  }

  private requireOpen(): void {
    if (this.closed || !this.dataSource.isInitialized)
      throw new DriverError('The database connection is closed');
  }

  private async read(sql: string, params: unknown[]): Promise<unknown[][]> {
    this.requireOpen();
    const readers = await (this.readers ??= this.openReaders());
    try {
      const rows = await readers[this.nextReader++ % readers.length].all(sql, params);
      return rows.map((row) => Object.values(row));
    } catch (error) {
      throw driverError(describeError(error));
    }
  }

  /** Opened on the first read; when that fails, the read fails and the next read tries again. */
  private openReaders(): Promise<StatementPool[]> {
    const opening = (async () => {
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
        throw driverError(describeError(error));
      }
    })();
    opening.catch(() => {
      if (this.readers === opening) this.readers = null;
    });
    return opening;
  }

  /** One job on the database thread; the rows of its step that returns them. */
  private async writeJob(job: Job): Promise<Record<string, unknown>[]> {
    const [outcome] = await this.write([job]);
    if (outcome.error) throw driverError(outcome.error);
    return outcome.rows ?? [];
  }

  /** One statement on the database thread; whether it returned a row. */
  private async writeOne(sql: string, params: unknown[]): Promise<boolean> {
    const [outcome] = await this.write([[{ sql, params, requireRow: true }]]);
    if (outcome.error) throw driverError(outcome.error);
    return outcome.applied;
  }

  /** Jobs for the database thread, committed in one transaction; a thread failure fails every job. */
  private async write(jobs: Job[]): Promise<JobOutcome[]> {
    this.requireOpen();
    const answer = await this.thread.call(jobs);
    if ('error' in answer) throw driverError(answer.error);
    return answer.outcomes;
  }
}

import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { Role, UserStatus } from '../../entities/enums';
import { User } from '../../entities/user.entity';
import {
  DriverError,
  type ChangeResult,
  type DeliverySettlement,
  type GuardedUserChange,
  type LeasedDeliveryRow,
  type UserDataPort,
} from '../port';
import {
  EntityRows,
  KEYED_READS,
  leasedDelivery,
  PortAdapter,
  type KeyedReadName,
  type PlainStatementName,
} from '../rows';
import { ThreadCalls } from '../../worker-thread';
import { deliveryStatements } from './delivery-statements';
import { describeError, openDatabase, StatementPool, type ErrorInfo } from './statements';
import type { ChangeRows, ChangeStatements, Job, JobOutcome, JobsAnswer, WriteStep } from './thread.protocol';

/** Read-only connections of the main thread; reads go to them in turn. */
const READERS = 2;

/**
 * A change's values before its written columns: follows, how many changes it writes, numeric id,
 * version, three guards, admin role, active status.
 */
const GUARD_VALUES = 9;

/**
 * Whether a value cannot travel in the change statements' JSON: SQLite's JSON cuts a string short at a
 * NUL character and stores an unpaired surrogate as bytes that are not UTF-8.
 */
function unsendable(change: ChangeRows): boolean {
  const values = [change.update, change.history, change.event, ...change.mail];
  return values.some((row) =>
    row.some((value) => typeof value === 'string' && (value.includes('\0') || !value.isWellFormed())),
  );
}

function refusedValue(): ChangeResult {
  return {
    error: new DriverError(
      'A value holds a NUL character or an unpaired surrogate, which the database does not store',
    ),
  };
}

function driverError(error: ErrorInfo): DriverError {
  return new DriverError(error.message, error.code, error.errno);
}

/** The statements of the request path, in SQLite's dialect (`?N` parameters), built once from the metadata. */
function statements(rows: EntityRows) {
  // `many` takes the keys as one JSON array.
  const keyed = (name: KeyedReadName) => ({
    one: rows.keyedRead(name, (key) => `${key} = ?1`),
    many: rows.keyedRead(name, (key) => `${key} IN (SELECT "value" FROM json_each(?1))`),
  });
  const plain: Record<PlainStatementName, string> = {
    otherActiveAdmins: `SELECT COUNT(*) FROM "users" WHERE "organization_id" = ?1 AND "role" = ?2 AND "status" = ?3 AND "numeric_id" <> ?4`,
    uniqueValueTaken: `SELECT "email_lower" = ?2 FROM "users" WHERE "organization_id" = ?1 AND "numeric_id" <> ?4 AND ("email_lower" = ?2 OR "username_lower" = ?3) ORDER BY 1 DESC LIMIT 1`,
    touchCredential: `UPDATE "credentials" SET "last_used_at" = ?1 WHERE "id" = ?2`,
    claimStands: `SELECT 1 FROM "idempotency_keys" WHERE "id" = ?1 AND "applied_result" IS NULL`,
    recordOutcome: `UPDATE "idempotency_keys" SET "applied_result" = ?1 WHERE "id" = ?2 AND "applied_result" IS NULL RETURNING "id"`,
  };
  return {
    keyed: Object.fromEntries(KEYED_READS.map((name) => [name, keyed(name)])) as Record<
      KeyedReadName,
      ReturnType<typeof keyed>
    >,
    plain,
  };
}

/**
 * The statements that write changes (ChangeStatements), in SQLite's dialect: each takes its rows as one
 * JSON array of arrays (?1), read as `v`, so that one statement writes the changes of a transaction.
 */
function changeStatements(rows: EntityRows, indexedColumns: ReadonlySet<string>): ChangeStatements {
  const at = (index: number) => `v."value" ->> ${index}`;
  // An INSERT of `columns` from the rows, and of `computed` columns (name, SQL) computed from them.
  const insert = (table: string, columns: readonly ColumnMetadata[], computed: [string, string][] = []) =>
    `INSERT INTO "${table}" (${[EntityRows.names(columns), ...computed.map(([name]) => `"${name}"`)].join(', ')}) ` +
    `SELECT ${[...columns.map((_, index) => at(index)), ...computed.map(([, value]) => value)].join(', ')} ` +
    `FROM json_each(?1) v ORDER BY v."key"`;
  // A change's values: the history id it follows, how many changes it writes (their versions), its
  // numeric id, the version it was read at, the guards' values (a guard whose value is NULL, or 0, does
  // not apply), the admin role and the active status, then the written columns.
  const [follows, changes, caller, keep, claim, admin, active] = [0, 1, 4, 5, 6, 7, 8].map(at);
  // Guarded, the written columns in `set`.
  const update = (set: string, where = '') =>
    `UPDATE "users" SET ${set}, "version" = "users"."version" + ${changes} FROM json_each(?1) v ` +
    `WHERE "users"."numeric_id" = ${at(2)} AND "users"."version" = ${at(3)}${where}` +
    ` AND (${caller} IS NULL OR EXISTS (SELECT 1 FROM "users" c WHERE c."numeric_id" = ${caller}` +
    ` AND c."organization_id" = "users"."organization_id" AND c."role" = ${admin} AND c."status" = ${active}))` +
    ` AND (${keep} = 0 OR EXISTS (SELECT 1 FROM "users" a WHERE a."organization_id" = "users"."organization_id"` +
    ` AND a."role" = ${admin} AND a."status" = ${active} AND a."numeric_id" <> "users"."numeric_id"))` +
    ` AND (${follows} IS NULL OR EXISTS (SELECT 1 FROM "user_changes" h WHERE h."id" = ${follows}))` +
    ` AND (${claim} IS NULL OR EXISTS (SELECT 1 FROM "idempotency_keys" k WHERE k."id" = ${claim} AND k."applied_result" IS NULL))` +
    ` RETURNING "numeric_id"`;
  // The written columns with their places among the values.
  const written = rows.updated.map((column, index) => ({
    name: `"${column.databaseName}"`,
    value: at(index + GUARD_VALUES),
    indexed: indexedColumns.has(column.databaseName),
  }));
  const indexed = written.filter((column) => column.indexed);
  const unindexed = written.filter((column) => !column.indexed);
  const assign = (columns: typeof written) =>
    columns.map(({ name, value }) => `${name} = ${value}`).join(', ');
  return {
    update: update(assign(written)),
    // SQLite rewrites the index entries of every indexed column an UPDATE sets, changed or not: this
    // one leaves them out, for the changes that keep those columns as they are.
    updateUnindexed: update(
      assign(unindexed),
      indexed.map(({ name, value }) => ` AND "users".${name} IS ${value}`).join(''),
    ),
    history: insert('user_changes', rows.history),
    // An event is born dispatched when its organization has no enabled webhook endpoint: nothing to send.
    event: insert('user_events', rows.event, [
      [
        'dispatched',
        `NOT EXISTS (SELECT 1 FROM "webhook_endpoints" w WHERE w."organization_id" = ${at(rows.eventOrganization)} AND w."enabled" = 1)`,
      ],
    ]),
    mail: insert('mail_outbox', rows.mail),
    claimOutcome: `UPDATE "idempotency_keys" SET "applied_result" = ${at(0)} FROM json_each(?1) v WHERE "idempotency_keys"."id" = ${at(1)} AND "idempotency_keys"."applied_result" IS NULL`,
  };
}

/** The users table's columns that an index holds. */
function indexedColumns(dataSource: DataSource): ReadonlySet<string> {
  const indices = dataSource.getMetadata(User).indices;
  return new Set(indices.flatMap((index) => index.columns.map((column) => column.databaseName)));
}

/**
 * The SQLite adapter. Reads run on read-only connections of the main thread, as the bare `sqlite3`
 * baseline reads: one trip to sqlite3's thread pool, and in WAL mode a read sees what has committed
 * and never waits for a writer. Writes run on the database thread (sqlite.worker.ts), which commits
 * the writes that arrive together in one transaction; the writes of one loop turn leave in one
 * message, so the main thread wakes that thread once per turn, not per statement.
 */
export class SqliteAdapter extends PortAdapter implements UserDataPort {
  private readonly sql: ReturnType<typeof statements>;
  /** Which of the written columns an index holds. */
  private readonly indexedWritten: boolean[];
  private readonly thread: ThreadCalls<Job[], JobsAnswer>;
  private readers: Promise<StatementPool[]> | null = null;
  private nextReader = 0;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly file: string,
    private readonly busyTimeoutMs: number,
  ) {
    super(dataSource);
    this.sql = statements(this.rows);
    const indexed = indexedColumns(dataSource);
    this.indexedWritten = this.rows.updated.map((column) => indexed.has(column.databaseName));
    this.thread = new ThreadCalls<Job[], JobsAnswer>({
      dir: __dirname,
      name: 'sqlite.worker',
      label: 'database',
      workerData: {
        file,
        busyTimeoutMs,
        maxBatch: 256,
        changeStatements: changeStatements(this.rows, indexed),
      },
      // The thread's garbage is short-lived (messages, rows); a small young generation collects it as
      // well, where V8's default lets it grow to 48 MB, which the process's memory kept (RSS) after.
      resourceLimits: { maxYoungGenerationSizeMb: 6 },
      // When the thread dies, the outcome of what it was doing is unknown (a write may have committed
      // just before): those writes fail, and the next one starts a new thread.
      failed: (message) => ({ error: { message } }),
    });
  }

  protected readKeys(name: KeyedReadName, keys: readonly (string | number)[]): Promise<unknown[][]> {
    const statement = this.sql.keyed[name];
    return keys.length === 1
      ? this.read(statement.one, [keys[0]])
      : this.read(statement.many, [JSON.stringify(keys)]);
  }

  /** Writes go to the database thread. */
  protected async runPlain(name: PlainStatementName, params: unknown[]): Promise<unknown[][]> {
    const sql = this.sql.plain[name];
    if (name !== 'touchCredential' && name !== 'recordOutcome') return this.read(sql, params);
    const [rows] = await this.writeSteps([sql, params]);
    return rows.map((row) => Object.values(row));
  }

  async applyChanges(
    changes: GuardedUserChange[],
    options: { atomic?: boolean } = {},
  ): Promise<ChangeResult[]> {
    const rows = changes.map((change) => this.changeRows(change));
    const result = (outcome: JobOutcome): ChangeResult =>
      outcome.error ? { error: driverError(outcome.error) } : outcome.applied ? 'applied' : 'guard-failed';
    // Such a change is refused, as PostgreSQL refuses a NUL in a value. (The services refuse control
    // characters and unpaired surrogates in what users send long before.)
    const refused = rows.map(unsendable);
    if (options.atomic) {
      const first = refused.indexOf(true);
      if (first >= 0) return changes.map((_, index) => (index === first ? refusedValue() : 'undone'));
      const [outcome] = await this.write([{ atomic: rows }]);
      if (outcome.applied) return changes.map(() => 'applied');
      return changes.map((_, index) =>
        index === outcome.failed || outcome.failed === undefined ? result(outcome) : 'undone',
      );
    }
    const jobs = rows.filter((_, index) => !refused[index]).map((change) => ({ change }));
    const outcomes = (jobs.length > 0 ? await this.write(jobs) : []).values();
    return refused.map((unsent) => (unsent ? refusedValue() : result(outcomes.next().value!)));
  }

  /** A change as the values of the change statements. */
  private changeRows(change: GuardedUserChange): ChangeRows {
    const { updated, history, event, mail } = this.rows.changeValues(change);
    const { user, callerMustBeAdmin, keepAnotherAdmin, follows, claim } = change;
    const guards = [callerMustBeAdmin, keepAnotherAdmin ? 1 : 0, claim?.id ?? null];
    const indexedValues = updated.filter((_, index) => this.indexedWritten[index]);
    return {
      numericId: user.numericId,
      historyId: change.history.id,
      follows,
      demotes: keepAnotherAdmin,
      sameGuards: keepAnotherAdmin || claim ? null : JSON.stringify([callerMustBeAdmin, ...indexedValues]),
      readVersion: user.version - 1,
      update: [...guards, Role.ADMIN, UserStatus.ACTIVE, ...updated],
      history,
      event,
      mail,
      claim: claim ? [claim.result, claim.id] : null,
    };
  }

  async dispatchEvents(now: string, limit: number, until: string): Promise<LeasedDeliveryRow[]> {
    const { dispatch, markDispatched } = deliveryStatements;
    const [rows] = await this.writeSteps([dispatch, [now, limit, until]], [markDispatched, [limit]]);
    return rows.filter((row) => row.ready).map((row) => leasedDelivery(Object.values(row).slice(1)));
  }

  async replayEvents(endpointId: string, since: string, now: string): Promise<number> {
    const [rows] = await this.writeSteps([deliveryStatements.replay, [now, endpointId, null, since]]);
    return rows.length;
  }

  async leaseDeliveries(now: string, until: string, limit: number): Promise<LeasedDeliveryRow[]> {
    const [rows] = await this.writeSteps([deliveryStatements.lease, [now, until, limit]]);
    return rows.map((row) => leasedDelivery(Object.values(row)));
  }

  async extendLeases(deliveryIds: string[], until: string): Promise<void> {
    await this.writeSteps([deliveryStatements.extendLeases, [JSON.stringify(deliveryIds), until]]);
  }

  async settleDeliveries(settlements: DeliverySettlement[], at: string): Promise<void> {
    const json = JSON.stringify(settlements);
    const { settle, readyNext, lastSuccess } = deliveryStatements;
    await this.writeSteps([settle, [json, at]], [readyNext, [json]], [lastSuccess, [json, at]]);
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

  /** Statements run in order on the database thread, in one savepoint; the rows of each. */
  private async writeSteps(...steps: WriteStep[]): Promise<Record<string, unknown>[][]> {
    const [outcome] = await this.write([{ steps }]);
    if (outcome.error) throw driverError(outcome.error);
    return outcome.rows!;
  }

  /** Jobs for the database thread, committed in one transaction; a thread failure fails every job. */
  private async write(jobs: Job[]): Promise<JobOutcome[]> {
    this.requireOpen();
    const answer = await this.thread.call(jobs);
    if ('error' in answer) throw driverError(answer.error);
    return answer.outcomes;
  }
}

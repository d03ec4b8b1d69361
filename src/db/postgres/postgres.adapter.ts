import { Pool, type PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { Role, UserStatus } from '../../entities/enums';
import type { User } from '../../entities/user.entity';
import {
  DriverError,
  type ChangeResult,
  type DeliverySettlement,
  type GuardedUserChange,
  type LeasedDeliveryRow,
  type PoolState,
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
import { deliveryStatements } from './delivery-statements';

/** The advisory lock that queueing deliveries takes (any number no other lock uses). */
const DELIVERY_LINES_LOCK = 0x77656268;

/** Changes sharing one statement at most; when a shared statement is refused, this many run again alone. */
const MAX_CHANGES_PER_STATEMENT = 32;

/** The request path's statements in PostgreSQL's dialect, built once from the metadata. */
function statements(rows: EntityRows, dataSource: DataSource) {
  // Changes arrive column by column as arrays ($1 their numbers, $2 and $3 the admin role and the active
  // status, then one array per column), laid out as rows ("v") by unnest: the statement's text is the
  // same however many changes share it, so it is prepared once per connection. A guard whose value is
  // NULL does not apply. (Whether another admin remains after a demotion is checked by a statement of
  // its own, under the organization's lock: as a guard here, its estimated cost, a scan of the
  // organization's users, made the planner join the changes to the whole users table.)
  const columns = [...rows.updated, ...rows.history, ...rows.event];
  const firstEvent = 4 + rows.updated.length + rows.history.length;
  const types = [
    'integer',
    'integer',
    'integer',
    'varchar',
    ...columns.map((c) => dataSource.driver.normalizeType(c)),
  ];
  const names = ['numeric_id', 'version', 'caller', 'follows', ...columns.map((_, i) => `c${i}`)];
  const v = (i: number) => `"v"."${names[i]}"`;
  // An event is born dispatched when its organization has no enabled webhook endpoint: nothing to send.
  const noEndpoint = (organization: string) =>
    `NOT EXISTS (SELECT 1 FROM "webhook_endpoints" w WHERE w."organization_id" = ${organization} AND w."enabled")`;
  const mail = 4 + types.length;
  const mailTypes = rows.mail.map((c) => dataSource.driver.normalizeType(c));
  const changeMany =
    `WITH "v" AS (SELECT * FROM unnest($1::int[], ${types.map((t, i) => `$${i + 4}::${t}[]`).join(', ')}) ` +
    `AS "v"("change", ${names.map((n) => `"${n}"`).join(', ')})), ` +
    `"u" AS (UPDATE "users" SET ${rows.updated.map((c, i) => `"${c.databaseName}" = ${v(i + 4)}`).join(', ')}, ` +
    `"version" = "users"."version" + 1 FROM "v" WHERE "users"."numeric_id" = ${v(0)} AND "users"."version" = ${v(1)}` +
    ` AND (${v(2)} IS NULL OR EXISTS (SELECT 1 FROM "users" c WHERE c."numeric_id" = ${v(2)}` +
    ` AND c."organization_id" = "users"."organization_id" AND c."role" = $2 AND c."status" = $3))` +
    ` AND (${v(3)} IS NULL OR EXISTS (SELECT 1 FROM "user_changes" h WHERE h."id" = ${v(3)}))` +
    ` RETURNING "v"."change"), ` +
    `"h" AS (INSERT INTO "user_changes" (${EntityRows.names(rows.history)}) ` +
    `SELECT ${rows.history.map((_, i) => v(i + 4 + rows.updated.length)).join(', ')} FROM "v" JOIN "u" USING ("change")), ` +
    `"e" AS (INSERT INTO "user_events" (${EntityRows.names(rows.event)}, "dispatched") ` +
    `SELECT ${rows.event.map((_, i) => v(i + firstEvent)).join(', ')}, ${noEndpoint(v(firstEvent + rows.eventOrganization))} ` +
    `FROM "v" JOIN "u" USING ("change")), ` +
    // The changes' messages, as rows of their own ($M their changes' numbers, then one array per column).
    `"m" AS (INSERT INTO "mail_outbox" (${EntityRows.names(rows.mail)}) ` +
    `SELECT ${rows.mail.map((_, i) => `"mv"."m${i}"`).join(', ')} FROM unnest($${mail}::int[], ` +
    `${mailTypes.map((t, i) => `$${mail + 1 + i}::${t}[]`).join(', ')}) ` +
    `AS "mv"("change", ${rows.mail.map((_, i) => `"m${i}"`).join(', ')}) JOIN "u" USING ("change")) ` +
    `SELECT "change" FROM "u"`;
  // Several changes of one user, written as the last one's row and every change's history row in one
  // statement, all or none: $1 numeric id, $2 the first change's version, $3 how many, $4 the callers who
  // must be admins, $5 and $6 the admin role and the active status, then the columns, then the history
  // columns and the event columns as arrays.
  const history = rows.history.map(
    (c, i) => `$${i + 7 + rows.updated.length}::${types[i + 4 + rows.updated.length]}[]`,
  );
  const events = rows.event.map((c, i) => `$${i + 3 + firstEvent}::${types[i + firstEvent]}[]`);
  const changesOfOneUser =
    `WITH "u" AS (UPDATE "users" SET ${rows.updated.map((c, i) => `"${c.databaseName}" = $${i + 7}::${types[i + 4]}`).join(', ')}, ` +
    `"version" = "users"."version" + $3 WHERE "users"."numeric_id" = $1 AND "users"."version" = $2` +
    ` AND NOT EXISTS (SELECT 1 FROM unnest($4::int[]) AS "c"("id") WHERE NOT EXISTS (SELECT 1 FROM "users" a` +
    ` WHERE a."numeric_id" = "c"."id" AND a."organization_id" = "users"."organization_id" AND a."role" = $5 AND a."status" = $6))` +
    ` RETURNING 1), "e" AS (INSERT INTO "user_events" (${EntityRows.names(rows.event)}, "dispatched") ` +
    `SELECT *, ${noEndpoint(`"ev"."e${rows.eventOrganization}"`)} FROM unnest(${events.join(', ')}) ` +
    `AS "ev"(${rows.event.map((_, i) => `"e${i}"`).join(', ')}) WHERE EXISTS (SELECT 1 FROM "u")) ` +
    `INSERT INTO "user_changes" (${EntityRows.names(rows.history)}) ` +
    `SELECT * FROM unnest(${history.join(', ')}) WHERE EXISTS (SELECT 1 FROM "u") RETURNING "seq"`;
  const keyed = (name: KeyedReadName) => ({
    one: rows.keyedRead(name, (key) => `${key} = $1`),
    many: rows.keyedRead(name, (key) => `${key} = ANY($1)`),
  });
  return {
    keyed: Object.fromEntries(KEYED_READS.map((name) => [name, keyed(name)])) as Record<
      KeyedReadName,
      ReturnType<typeof keyed>
    >,
    otherActiveAdmins: `SELECT COUNT(*) FROM "users" WHERE "organization_id" = $1 AND "role" = $2 AND "status" = $3 AND "numeric_id" <> $4`,
    uniqueValueTaken: `SELECT "email_lower" = $2 FROM "users" WHERE "organization_id" = $1 AND "numeric_id" <> $4 AND ("email_lower" = $2 OR "username_lower" = $3) ORDER BY 1 DESC LIMIT 1`,
    touchCredential: `UPDATE "credentials" SET "last_used_at" = $1 WHERE "id" = $2`,
    claimStands: `SELECT 1 FROM "idempotency_keys" WHERE "id" = $1 AND "applied_result" IS NULL`,
    recordOutcome: `UPDATE "idempotency_keys" SET "applied_result" = $1 WHERE "id" = $2 AND "applied_result" IS NULL RETURNING "id"`,
    // A retry taking an abandoned key over waits for this lock, and then finds the claim's outcome.
    lockClaim: `SELECT 1 FROM "idempotency_keys" WHERE "id" = $1 AND "applied_result" IS NULL FOR UPDATE`,
    // Demotions in one organization one at a time, so that two admins cannot demote each other at once.
    // NO KEY UPDATE, not UPDATE: the foreign-key check of a user row already changed in the same
    // transaction takes KEY SHARE on its organization, which FOR UPDATE would make wait (a deadlock
    // with this lock's holder waiting for that user row).
    lockOrganization: `SELECT "id" FROM "organizations" WHERE "id" = $1 FOR NO KEY UPDATE`,
    anotherActiveAdmin: `SELECT 1 FROM "users" WHERE "organization_id" = $1 AND "role" = $2 AND "status" = $3 AND "numeric_id" <> $4 LIMIT 1`,
    organizationOf: `SELECT "organization_id" FROM "users" WHERE "id" = $1`,
    lockUser: `${rows.keyedRead('userById', (key) => `${key} = $1`)} FOR NO KEY UPDATE OF u`,
    changeMany,
    changesOfOneUser,
  };
}

/**
 * A change the database refused. A deadlock or serialization failure undid the statement and says
 * nothing about the change: it counts as a guard that failed, and the change is judged again.
 */
function refusal(error: unknown): ChangeResult {
  const code = (error as { code?: string }).code;
  return code === '40P01' || code === '40001' ? 'guard-failed' : { error };
}

type Statements = ReturnType<typeof statements>;
type Named = { [K in keyof Statements]: Statements[K] extends string ? K : never }[keyof Statements];

interface PendingChange {
  change: GuardedUserChange;
  resolve(result: ChangeResult): void;
}

/**
 * The PostgreSQL adapter: a `pg` pool of its own (openPool), every statement named (prepared once per
 * connection). A change that comes alone joins the others of its loop turn in one statement (group
 * commit: one round trip and one commit for all); changes that come together (one user's) run in order
 * in one transaction.
 */
export class PostgresAdapter extends PortAdapter implements UserDataPort {
  private readonly sql: Statements;
  private readonly pool: Pool;
  /** Set on the view of one open transaction (withUserLocked): its statements run on this connection. */
  private client: PoolClient | undefined = undefined;
  private pending: PendingChange[] = [];
  private ended: Promise<void> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    warn: (message: string, error: unknown) => void,
  ) {
    super(dataSource);
    this.sql = statements(this.rows, dataSource);
    this.pool = openPool(dataSource, warn);
  }

  protected readKeys(name: KeyedReadName, keys: readonly (string | number)[]): Promise<unknown[][]> {
    const statement = this.sql.keyed[name];
    if (keys.length === 1) return this.query(statement.one, [keys[0]], `${name}.one`);
    return this.query(statement.many, [keys], `${name}.many`);
  }

  /** Inside a transaction, alone and on its connection, not batched on the pool. */
  protected override async readKey(
    name: KeyedReadName,
    key: string | number,
  ): Promise<unknown[] | undefined> {
    if (!this.client) return super.readKey(name, key);
    return (await this.query(this.sql.keyed[name].one, [key], `${name}.one`))[0];
  }

  protected runPlain(name: PlainStatementName, params: unknown[]): Promise<unknown[][]> {
    return this.named(name, params);
  }

  async applyChanges(
    changes: GuardedUserChange[],
    options: { atomic?: boolean } = {},
  ): Promise<ChangeResult[]> {
    if (options.atomic) return this.atomically(changes);
    if (this.client) return this.inOrder(this.client, changes, 'savepoints');
    const [first] = changes;
    if (changes.length === 1 && !first.claim && !first.keepAnotherAdmin) {
      if (this.pending.length === 0) setImmediate(() => this.writePending());
      return new Promise((resolve) =>
        this.pending.push({ change: first, resolve: (result) => resolve([result]) }),
      );
    }
    // One user's changes, each following the one before: when every guard holds, one statement.
    if (changes.every((change, index) => this.followsOnOfOneUser(changes, index))) {
      const count = await this.writeOneUser(changes).catch(() => 0);
      if (count === changes.length) return changes.map(() => 'applied');
    }
    // Otherwise in order in a transaction, each change judged on its own.
    return this.transaction(async (client) => {
      const results = await this.inOrder(client, changes, 'plain').catch(() => null);
      if (results) return results;
      // A change was refused, which aborts the transaction: again, each in a savepoint of its own.
      await client.query('ROLLBACK; BEGIN');
      return this.inOrder(client, changes, 'savepoints');
    });
  }

  /** All the changes in one transaction, rolled back at the first that does not apply. */
  private async atomically(changes: GuardedUserChange[]): Promise<ChangeResult[]> {
    let refused: ChangeResult[] | null = null;
    const results = await this.transaction(async (client) => {
      const results = await this.inOrder(client, changes, 'atomic');
      const failed = results.findIndex((result) => result !== 'applied');
      if (failed < 0) return results;
      refused = changes.map((_, index) => (index === failed ? results[failed] : 'undone'));
      throw new Error('an atomic change was refused');
    }).catch((error: unknown) => {
      if (!refused) throw error;
      return refused;
    });
    return results;
  }

  async withUserLocked<T>(
    id: string,
    work: (target: User | null, port: UserDataPort) => Promise<T>,
  ): Promise<T> {
    if (this.client) return work(await this.userById(id), this);
    return this.transaction(async (client) => {
      // The organization first, the order in which a demotion locks the two, so they cannot wait for each other.
      const [organization] = await this.named('organizationOf', [id], client);
      if (organization) await this.named('lockOrganization', [organization[0]], client);
      const [row] = await this.named('lockUser', [id], client);
      // The same adapter, its statements running in this transaction.
      const view = Object.assign(Object.create(this) as PostgresAdapter, { client });
      return work(this.rows.userFrom(row, 1), view);
    });
  }

  poolState(): PoolState {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** Ends the pool: its connections close once the statements running on them are done. */
  close(): Promise<void> {
    return (this.ended ??= this.pool.end());
  }

  /**
   * The changes in order on `client`, inside its open transaction. `savepoints`: each change is undone
   * alone when the database refuses it; `plain`: a refusal throws (the transaction is lost); `atomic`:
   * the first change that does not apply ends the run (the caller rolls back).
   */
  private async inOrder(
    client: PoolClient,
    changes: GuardedUserChange[],
    mode: 'savepoints' | 'plain' | 'atomic',
  ): Promise<ChangeResult[]> {
    const savepoints = mode === 'savepoints';
    const organizations = new Set(
      changes.filter((c) => c.keepAnotherAdmin).map((c) => c.user.organizationId),
    );
    for (const organization of organizations) await this.named('lockOrganization', [organization], client);
    const results: ChangeResult[] = [];
    for (const change of changes) {
      if (savepoints) await client.query('SAVEPOINT change');
      try {
        const claimed =
          !change.claim || (await this.named('lockClaim', [change.claim.id], client)).length > 0;
        // The organization is locked (above): no other demotion in it can commit before this one.
        const adminRemains =
          !change.keepAnotherAdmin ||
          (
            await this.named(
              'anotherActiveAdmin',
              [change.user.organizationId, Role.ADMIN, UserStatus.ACTIVE, change.user.numericId],
              client,
            )
          ).length > 0;
        const applied = claimed && adminRemains && (await this.writeMany([change], client)).has(0);
        if (applied && change.claim)
          await this.named('recordOutcome', [change.claim.result, change.claim.id], client);
        results.push(applied ? 'applied' : 'guard-failed');
        if (savepoints) await client.query('RELEASE SAVEPOINT change');
        if (!applied && mode === 'atomic') break;
      } catch (error) {
        if (mode === 'plain') throw error;
        if (savepoints) await client.query('ROLLBACK TO SAVEPOINT change');
        results.push(refusal(error));
        if (mode === 'atomic') break;
      }
    }
    return results;
  }

  /**
   * Whether change `index` can be written with the others as one (see writeOneUser): no claim, no
   * demotion, no mail, the same user, on top of the change before; and, unless it is the last, no new email or
   * username, since only the last row meets the unique indexes.
   */
  private followsOnOfOneUser(changes: GuardedUserChange[], index: number): boolean {
    const change = changes[index];
    const previous = changes[index - 1];
    const unique = change.history.changedFields.some((field) => field === 'email' || field === 'username');
    return (
      !change.claim &&
      !change.keepAnotherAdmin &&
      change.mail.length === 0 &&
      (!unique || index === changes.length - 1) &&
      change.user.numericId === changes[0].user.numericId &&
      change.follows === (previous ? previous.history.id : null)
    );
  }

  /**
   * One user's changes, each worked out on top of the one before, as one statement: the last one's
   * row, every change's history row, and every caller's rights checked, all or none. How many
   * history rows it wrote (none when a guard failed).
   */
  private async writeOneUser(changes: GuardedUserChange[]): Promise<number> {
    const last = changes[changes.length - 1];
    const callers = [...new Set(changes.flatMap((change) => change.callerMustBeAdmin ?? []))];
    const values = changes.map((change) => this.rows.changeValues(change));
    const history: unknown[][] = this.rows.history.map(() => []);
    const events: unknown[][] = this.rows.event.map(() => []);
    for (const { history: row, event } of values) {
      row.forEach((value, index) => history[index].push(value));
      event.forEach((value, index) => events[index].push(value));
    }
    const params = [
      last.user.numericId,
      changes[0].user.version - 1,
      changes.length,
      callers,
      Role.ADMIN,
      UserStatus.ACTIVE,
      ...values[values.length - 1].updated,
      ...history,
      ...events,
    ];
    return (await this.named('changesOfOneUser', params)).length;
  }

  /** Changes without a claim in one statement, with their messages; the indexes of those that applied. */
  private async writeMany(changes: GuardedUserChange[], client?: PoolClient): Promise<Set<number>> {
    const columns: unknown[][] = [];
    const mail: unknown[][] = [[], ...this.rows.mail.map(() => [])];
    for (const [number, change] of changes.entries()) {
      const values = this.rows.changeValues(change);
      const guards = [change.callerMustBeAdmin, change.follows];
      [
        change.user.numericId,
        change.user.version - 1,
        ...guards,
        ...values.updated,
        ...values.history,
        ...values.event,
      ].forEach((value, index) => (columns[index] ??= []).push(value));
      for (const message of values.mail)
        [number, ...message].forEach((value, index) => mail[index].push(value));
    }
    const params = [changes.map((_, index) => index), Role.ADMIN, UserStatus.ACTIVE, ...columns, ...mail];
    return new Set((await this.named('changeMany', params, client)).map((row) => Number(row[0])));
  }

  /**
   * The lone changes of a loop turn, in statements of up to MAX_CHANGES_PER_STATEMENT, rows in key
   * order (so two statements lock rows in the same order). A statement refused as a whole (a unique
   * index, a deadlock) kept nothing; its changes then run again one by one, so a refusal stays its own.
   */
  private writePending(): void {
    const arrived = this.pending;
    this.pending = [];
    const order = new Map(arrived.map((item, index) => [item, index]));
    const pending = [...arrived].sort((a, b) => a.change.user.numericId - b.change.user.numericId);
    for (let start = 0; start < pending.length; start += MAX_CHANGES_PER_STATEMENT) {
      const group = pending.slice(start, start + MAX_CHANGES_PER_STATEMENT);
      const write = (items: PendingChange[], onRefused: (error: unknown) => void) =>
        this.writeMany(items.map((item) => item.change)).then(
          (applied) =>
            items.forEach((item, index) => item.resolve(applied.has(index) ? 'applied' : 'guard-failed')),
          onRefused,
        );
      void write(group, async (error) => {
        if (group.length === 1) return group[0].resolve(refusal(error));
        // One after another, in the order they came: a change may take a value (a username) that one
        // before it gives up, which the statement, checking each row as it goes, refused.
        for (const item of group.sort((a, b) => order.get(a)! - order.get(b)!))
          await write([item], (alone) => item.resolve(refusal(alone)));
      });
    }
  }

  dispatchEvents(now: string, limit: number, until: string): Promise<LeasedDeliveryRow[]> {
    return this.withDeliveryLines(async (client) => {
      const params = [now, limit, until];
      const rows = await this.query(deliveryStatements.dispatch, params, 'dispatchEvents', client);
      return rows.filter(([ready]) => ready).map((row) => leasedDelivery(row.slice(1)));
    });
  }

  replayEvents(endpointId: string, since: string, now: string): Promise<number> {
    return this.withDeliveryLines(async (client) => {
      const params = [now, endpointId, null, since];
      return (await this.query(deliveryStatements.replay, params, 'replayEvents', client)).length;
    });
  }

  async leaseDeliveries(now: string, until: string, limit: number): Promise<LeasedDeliveryRow[]> {
    const rows = await this.query(deliveryStatements.lease, [now, until, limit], 'leaseDeliveries');
    return rows.map(leasedDelivery);
  }

  async extendLeases(deliveryIds: string[], until: string): Promise<void> {
    await this.query(deliveryStatements.extendLeases, [deliveryIds, until], 'extendLeases');
  }

  async settleDeliveries(settlements: DeliverySettlement[], at: string): Promise<void> {
    const json = JSON.stringify(settlements);
    await this.transaction(async (client) => {
      await this.query(deliveryStatements.settle, [json, at], 'settleDeliveries', client);
      await this.query(deliveryStatements.readyNext, [json], 'readyNextDeliveries', client);
    });
  }

  /** A transaction holding the lock that queueing deliveries takes. */
  private withDeliveryLines<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.transaction(async (client) => {
      await this.query(deliveryStatements.lockLines, [DELIVERY_LINES_LOCK], 'lockDeliveryLines', client);
      return work(client);
    });
  }

  /** A pooled connection in a transaction for `work`: committed when it resolves, rolled back when it throws. */
  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection whose rollback failed is in an unknown state: the pool drops it.
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private named(name: Named, params: unknown[], client = this.client): Promise<unknown[][]> {
    return this.query(this.sql[name], params, name, client);
  }

  /** One named statement, its rows as arrays in select order; on the transaction's connection if any. */
  private async query(
    sql: string,
    params: unknown[],
    name: string,
    client = this.client,
  ): Promise<unknown[][]> {
    // The adapter lives and dies with the data source: once it is destroyed, this refuses work too.
    if (!this.dataSource.isInitialized) throw new DriverError('The database connection is closed');
    return (await (client ?? this.pool).query({ name, text: sql, values: params, rowMode: 'array' })).rows;
  }
}

/**
 * The adapter's own `pg` pool, from the data source's URL and pool settings (`extra`): TypeORM offers
 * no public access to the pool it keeps. A process holds up to twice
 * `extra.max` connections, half here, half for TypeORM; they open on first use and close after 10 s
 * idle (pg's default), or when the adapter is closed.
 */
function openPool(dataSource: DataSource, warn: (message: string, error: unknown) => void): Pool {
  const options = dataSource.options as PostgresConnectionOptions;
  const pool = new Pool({ connectionString: options.url, ...options.extra });
  // An idle connection that fails (the server restarted) is dropped by the pool; unheard, the error
  // would end the process.
  pool.on('error', (error) => warn('A PostgreSQL connection of the data port failed', error));
  return pool;
}

import type { DataSource, EntityMetadata } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { Credential } from '../entities/credential.entity';
import { Role, UserStatus } from '../entities/enums';
import { Organization } from '../entities/organization.entity';
import { UserChange } from '../entities/user-change.entity';
import { User } from '../entities/user.entity';
import type { HotConnections, KeyedRead, WriteStep } from './connections';

/** A credential with its user and the user's organization, as authentication needs them. */
export type CredentialWithUser = Credential & { user: User & { organization: Organization } };

/** One change to a user, written only if the guards still hold when it is written. */
export interface GuardedUserChange {
  /** The row as it was read: the change applies only while its version is still this one. */
  numericId: number;
  version: number;
  organizationId: string;
  /** Entity property → new value; `version` is incremented by the write itself. */
  set: Partial<Record<keyof User, unknown>>;
  /** The caller must still be an active admin of the organization (someone else's record, or admin-only fields). */
  callerMustBeAdmin?: number;
  /** Another active admin must remain (the change demotes or deactivates an active admin). */
  keepAnotherAdmin?: boolean;
  /** The history row, written in the same transaction. */
  history: Omit<UserChange, 'seq'>;
  /**
   * An Idempotency-Key request's claim: the change applies only while the claim stands (its row is
   * there with no outcome yet), and `result` becomes its outcome in the same transaction.
   */
  claim?: { id: string; result: string };
}

/**
 * A one-job UPDATE (`$n` in the order of `order`), the two parts it is made of, and its form for
 * several jobs once built.
 */
interface UpdateStatement {
  sql: string;
  order: string[];
  assignments: string;
  where: string;
  /** PostgreSQL: the UPDATE with the INSERT of its history row, one job's statement (once built). */
  withHistory: string | undefined;
  /** The same, for a change under an Idempotency-Key claim (once built; see applyChange). */
  withClaim: string | undefined;
  together: string | undefined;
}

/** `$<offset + 1><cast>, …`: the placeholders of `count` values that follow `offset` others. */
function historyValues(count: number, offset: number, cast: string): string {
  return Array.from({ length: count }, (_, index) => `$${offset + index + 1}${cast}`).join(', ');
}

/**
 * `SELECT <key> AS "k", <columns> <from> WHERE <key> = $1`, and the same for several keys at once: an
 * array on PostgreSQL, a JSON array on SQLite.
 */
function keyedRead(
  dialect: HotConnections['dialect'],
  key: string,
  columns: string,
  from: string,
): KeyedRead {
  const select = `SELECT ${key} AS "k", ${columns} ${from} WHERE ${key}`;
  return {
    one: `${select} = $1`,
    many: dialect === 'postgres' ? `${select} = ANY($1)` : `${select} IN (SELECT "value" FROM json_each($1))`,
  };
}

/** An entity's columns, for building statements and turning rows back into entities. */
class Columns {
  readonly list: readonly ColumnMetadata[];
  private readonly byProperty: Map<string, ColumnMetadata>;

  constructor(readonly metadata: EntityMetadata) {
    this.list = metadata.columns;
    this.byProperty = new Map(this.list.map((column) => [column.propertyName, column]));
  }

  column(property: string): ColumnMetadata {
    const column = this.byProperty.get(property);
    if (!column) throw new Error(`${this.metadata.name} has no column for ${property}`);
    return column;
  }

  /** `u."name" AS "u_name", …` */
  select(alias: string): string {
    return this.list.map((c) => `${alias}."${c.databaseName}" AS "${alias}_${c.databaseName}"`).join(', ');
  }
}

/**
 * The statements of the request hot path, written once for both databases, with TypeORM's own
 * metadata (column names) and value conversion (booleans, JSON text) so they read and write exactly
 * what the entities do. Everything else goes through TypeORM's repositories.
 */
export class UserStore {
  private readonly users: Columns;
  private readonly organizations: Columns;
  private readonly credentials: Columns;
  private readonly changes: Columns;
  private readonly userQuery: {
    byId: KeyedRead;
    byNumericId: KeyedRead;
    lockOrganization: string;
    lockById: string;
  };
  private readonly credentialQuery: { bySecretHash: KeyedRead; byId: KeyedRead };
  private readonly updateStatements = new Map<string, UpdateStatement>();
  /** The history table's columns a write fills, in order, and their quoted names. */
  private readonly history: readonly ColumnMetadata[];
  private readonly historyColumns: string;
  /** SQLite: the history row's INSERT, which writes only after an UPDATE that applied. */
  private readonly historyInsert: string;

  constructor(
    private readonly dataSource: DataSource,
    private readonly connections: HotConnections,
  ) {
    this.users = new Columns(dataSource.getMetadata(User));
    this.organizations = new Columns(dataSource.getMetadata(Organization));
    this.credentials = new Columns(dataSource.getMetadata(Credential));
    this.changes = new Columns(dataSource.getMetadata(UserChange));
    this.history = this.changes.list.filter((column) => !column.isGenerated);
    this.historyColumns = this.history.map((column) => `"${column.databaseName}"`).join(', ');
    this.historyInsert =
      `INSERT INTO "user_changes" (${this.historyColumns}) ` +
      `SELECT ${historyValues(this.history.length, 0, '')} WHERE changes() > 0`;
    const userColumns = `${this.users.select('u')}, ${this.organizations.select('o')}`;
    const userFrom = `FROM "users" u JOIN "organizations" o ON o."id" = u."organization_id"`;
    const byId = keyedRead(connections.dialect, 'u."id"', userColumns, userFrom);
    this.userQuery = {
      byId,
      byNumericId: keyedRead(connections.dialect, 'u."numeric_id"', userColumns, userFrom),
      lockOrganization:
        `SELECT "id" FROM "organizations" ` +
        `WHERE "id" = (SELECT "organization_id" FROM "users" WHERE "id" = $1) FOR UPDATE`,
      lockById: `${byId.one} FOR NO KEY UPDATE OF u`,
    };
    const credentialColumns = `${this.credentials.select('c')}, ${userColumns}`;
    const credentialFrom =
      `FROM "credentials" c JOIN "users" u ON u."id" = c."user_id" ` +
      `JOIN "organizations" o ON o."id" = u."organization_id"`;
    this.credentialQuery = {
      bySecretHash: keyedRead(connections.dialect, 'c."secret_hash"', credentialColumns, credentialFrom),
      byId: keyedRead(connections.dialect, 'c."id"', credentialColumns, credentialFrom),
    };
  }

  async credentialBySecretHash(secretHash: string): Promise<CredentialWithUser | null> {
    return this.credentialFrom(
      await this.connections.readKeyed(this.credentialQuery.bySecretHash, secretHash),
    );
  }

  async credentialById(id: string): Promise<CredentialWithUser | null> {
    return this.credentialFrom(await this.connections.readKeyed(this.credentialQuery.byId, id));
  }

  /** The user with the public id, with its organization. */
  async userById(id: string): Promise<User | null> {
    return this.userFrom(await this.connections.readKeyed(this.userQuery.byId, id));
  }

  /**
   * Runs `work` on the user as read with its row locked until `work`'s writes are done (PostgreSQL: one
   * transaction; `users` reads and writes inside it). Writers in other processes then wait for this
   * one instead of racing it. The organization is locked first, the order in which a demotion locks
   * the two (applyChange), so the two cannot wait for each other. On SQLite, where writers to one user
   * in one process already take turns, `work` gets an ordinary read.
   */
  async withUserLocked<T>(
    id: string,
    work: (target: User | null, users: UserStore) => Promise<T>,
  ): Promise<T> {
    if (!this.connections.inTransaction) return work(await this.userById(id), this);
    return this.connections.inTransaction(async (tx) => {
      await tx.read(this.userQuery.lockOrganization, [id]);
      const target = this.userFrom(await tx.read(this.userQuery.lockById, [id]));
      return work(target, this.on(tx));
    });
  }

  /** The same statements, on other connections (a transaction's): nothing is built again. */
  private on(connections: HotConnections): UserStore {
    return Object.assign(Object.create(UserStore.prototype) as UserStore, this, { connections });
  }

  async userByNumericId(numericId: number): Promise<User | null> {
    return this.userFrom(await this.connections.readKeyed(this.userQuery.byNumericId, numericId));
  }

  /** Active admins of the organization other than `exceptNumericId`. */
  async otherActiveAdmins(organizationId: string, exceptNumericId: number): Promise<number> {
    const rows = await this.connections.read(
      `SELECT COUNT(*) AS "n" FROM "users" WHERE "organization_id" = $1 AND "role" = $2 AND "status" = $3 AND "numeric_id" <> $4`,
      [organizationId, Role.ADMIN, UserStatus.ACTIVE, exceptNumericId],
    );
    return Number(rows[0]?.[0] ?? 0);
  }

  async touchCredential(id: string, lastUsedAt: string): Promise<void> {
    await this.connections.transact([
      {
        sql: `UPDATE "credentials" SET "last_used_at" = $1 WHERE "id" = $2`,
        params: [lastUsedAt, id],
        requireRow: false,
      },
    ]);
  }

  /**
   * Whether the Idempotency-Key claim still stands: its row is there, with no outcome recorded. Once it
   * does not (a retry took the abandoned key over), nothing can be written under it any more.
   */
  async claimStands(claimId: string): Promise<boolean> {
    const rows = await this.connections.read(
      `SELECT 1 FROM "idempotency_keys" WHERE "id" = $1 AND "applied_result" IS NULL`,
      [claimId],
    );
    return rows.length > 0;
  }

  /**
   * Records `result` as the claim's outcome of a request that had nothing to write, so that a retry
   * replays it too. False when the claim no longer stands.
   */
  async recordOutcome(claimId: string, result: string): Promise<boolean> {
    const outcome = await this.connections.transact([
      {
        sql: `UPDATE "idempotency_keys" SET "applied_result" = $1 WHERE "id" = $2 AND "applied_result" IS NULL RETURNING "id"`,
        params: [result, claimId],
        requireRow: true,
      },
    ]);
    return outcome.applied;
  }

  /**
   * Writes the change and its history row in one transaction, if the row still has the version it was
   * read at and the guards hold. False when it does not (nothing written); database refusals (unique
   * indexes) throw. With a `claim`, the same transaction also records the claim's outcome, and nothing
   * is written unless the claim still stands (false then too: `claimStands` tells the two apart).
   */
  async applyChange(change: GuardedUserChange): Promise<boolean> {
    const properties = Object.keys(change.set).sort();
    const guards = `${change.callerMustBeAdmin !== undefined ? 'A' : ''}${change.keepAnotherAdmin ? 'K' : ''}`;
    const update = this.updateStatement(properties, guards);
    const params: unknown[] = [];
    for (const name of update.order) {
      if (name === ':numericId') params.push(change.numericId);
      else if (name === ':version') params.push(change.version);
      else if (name === ':organizationId') params.push(change.organizationId);
      else if (name === ':caller') params.push(change.callerMustBeAdmin);
      else if (name === ':admin') params.push(Role.ADMIN);
      else if (name === ':active') params.push(UserStatus.ACTIVE);
      else params.push(this.persisted(this.users, name, change.set[name as keyof User]));
    }
    const historyParams = this.history.map((column) =>
      this.persisted(
        this.changes,
        column.propertyName,
        change.history[column.propertyName as keyof GuardedUserChange['history']],
      ),
    );
    const steps: WriteStep[] = [];
    if (this.connections.dialect === 'postgres') {
      if (change.keepAnotherAdmin) {
        // Demotions in one organization one at a time, so two admins cannot demote each other at once.
        steps.push({
          sql: `SELECT "id" FROM "organizations" WHERE "id" = $1 FOR UPDATE`,
          params: [change.organizationId],
          requireRow: true,
        });
      }
      if (change.claim) {
        // One statement, alone (never shared with other requests' changes): the claim's row is locked
        // first, so a retry taking an abandoned key over either waits for this write and then finds its
        // outcome, or has deleted the claim and this UPDATE matches nothing.
        const claim = `$${params.length + historyParams.length + 1}`;
        const result = `$${params.length + historyParams.length + 2}`;
        update.withClaim ??=
          `WITH "claim" AS (SELECT "id" FROM "idempotency_keys" WHERE "id" = ${claim} ` +
          `AND "applied_result" IS NULL FOR UPDATE), ` +
          `"updated" AS (${update.sql} AND EXISTS (SELECT 1 FROM "claim") RETURNING "numeric_id"), ` +
          `"recorded" AS (UPDATE "idempotency_keys" SET "applied_result" = ${result} ` +
          `WHERE "id" = ${claim} AND EXISTS (SELECT 1 FROM "updated")) ` +
          `INSERT INTO "user_changes" (${this.historyColumns}) ` +
          `SELECT ${historyValues(this.history.length, params.length, '::text')} FROM "updated" RETURNING "seq"`;
        steps.push({
          sql: update.withClaim,
          params: [...params, ...historyParams, change.claim.id, change.claim.result],
          requireRow: true,
        });
        return (await this.connections.transact(steps)).applied;
      }
      // One statement: the UPDATE and the INSERT of its history row commit together or not at all.
      update.withHistory ??=
        `WITH "updated" AS (${update.sql} RETURNING "numeric_id") ` +
        `INSERT INTO "user_changes" (${this.historyColumns}) ` +
        `SELECT ${historyValues(this.history.length, params.length, '::text')} FROM "updated" RETURNING "seq"`;
      steps.push({
        sql: update.withHistory,
        params: [...params, ...historyParams],
        requireRow: true,
        // Alone in its transaction, it may share a statement with other requests' changes.
        together: change.keepAnotherAdmin
          ? undefined
          : {
              sql: this.togetherStatement(update),
              row: [...params, ...historyParams],
              order: change.numericId,
            },
      });
    } else {
      const claim = change.claim;
      // With a claim the UPDATE applies only while the claim stands; writes on SQLite take turns, so it
      // still stands when the last step records the outcome.
      steps.push(
        claim
          ? {
              sql: `${update.sql} AND EXISTS (SELECT 1 FROM "idempotency_keys" WHERE "id" = $${params.length + 1} AND "applied_result" IS NULL) RETURNING "version"`,
              params: [...params, claim.id],
              requireRow: true,
            }
          : { sql: `${update.sql} RETURNING "version"`, params, requireRow: true },
      );
      // Each step after the UPDATE writes only if the one before it did (its SQL checks changes() > 0).
      steps.push({ sql: this.historyInsert, params: historyParams, requireRow: false });
      if (claim) {
        steps.push({
          sql: `UPDATE "idempotency_keys" SET "applied_result" = $1 WHERE "id" = $2 AND changes() > 0`,
          params: [claim.result, claim.id],
          requireRow: false,
        });
      }
    }
    return (await this.connections.transact(steps)).applied;
  }

  private updateStatement(properties: string[], guards: string): UpdateStatement {
    const key = `${properties.join(',')}|${guards}`;
    let statement = this.updateStatements.get(key);
    if (statement) return statement;
    const order = [':numericId', ':version'];
    const placeholder = (name: string) => {
      order.push(name);
      return `$${order.length}`;
    };
    const assignments = properties.map(
      (property) => `"${this.users.column(property).databaseName}" = ${placeholder(property)}`,
    );
    let where = `"numeric_id" = $1 AND "version" = $2`;
    if (guards.includes('A')) {
      where +=
        ` AND EXISTS (SELECT 1 FROM "users" c WHERE c."numeric_id" = ${placeholder(':caller')}` +
        ` AND c."organization_id" = ${placeholder(':organizationId')} AND c."role" = ${placeholder(':admin')}` +
        ` AND c."status" = ${placeholder(':active')})`;
    }
    if (guards.includes('K')) {
      where +=
        ` AND EXISTS (SELECT 1 FROM "users" a WHERE a."organization_id" = ${placeholder(':organizationId')}` +
        ` AND a."role" = ${placeholder(':admin')} AND a."status" = ${placeholder(':active')}` +
        ` AND a."numeric_id" <> $1)`;
    }
    const set = `${assignments.join(', ')}, "version" = "version" + 1`;
    statement = {
      sql: `UPDATE "users" SET ${set} WHERE ${where}`,
      order,
      assignments: set,
      where,
      withHistory: undefined,
      withClaim: undefined,
      together: undefined,
    };
    // Column sets are few in practice; the bound keeps odd clients from growing the map.
    if (this.updateStatements.size >= 256) this.updateStatements.clear();
    this.updateStatements.set(key, statement);
    return statement;
  }

  /**
   * PostgreSQL: `update` and its history row for any number of jobs in one statement (WriteStep
   * `together`): the jobs' values arrive as one `text[]` per value, `unnest` lays them out as rows
   * ("v"), each `$n` of the one-job UPDATE becomes the job's value cast to the column's type, and
   * a history row is inserted for each job whose UPDATE applied. Its text depends only on the columns,
   * so it is prepared once per connection however many jobs share it.
   */
  private togetherStatement(update: UpdateStatement): string {
    if (update.together) return update.together;
    const { history, historyColumns } = this;
    const driver = this.dataSource.driver;
    const typeOf = (name: string) =>
      name === ':numericId' || name === ':version' || name === ':caller'
        ? 'integer'
        : name.startsWith(':')
          ? 'character varying'
          : driver.normalizeType(this.users.column(name));
    const values = update.order.map((name, index) => `"v"."a${index}"::${typeOf(name)}`);
    const arrays = ['$1::int[]', ...[...update.order, ...history].map((_, index) => `$${index + 2}::text[]`)];
    const names = [
      '"job"',
      ...update.order.map((_, index) => `"a${index}"`),
      ...history.map((_, index) => `"h${index}"`),
    ];
    const each = (sql: string) => sql.replace(/\$(\d+)/g, (_, n: string) => values[Number(n) - 1]);
    update.together =
      `WITH "v" AS (SELECT * FROM unnest(${arrays.join(', ')}) AS "v"(${names.join(', ')})), ` +
      `"u" AS (UPDATE "users" SET ${each(update.assignments)} FROM "v" WHERE ${each(update.where)} ` +
      `RETURNING "v"."job"), ` +
      `"h" AS (INSERT INTO "user_changes" (${historyColumns}) SELECT ` +
      history.map((column, index) => `"v"."h${index}"::${driver.normalizeType(column)}`).join(', ') +
      ` FROM "v" JOIN "u" USING ("job")) ` +
      `SELECT "job" FROM "u"`;
    return update.together;
  }

  private persisted(columns: Columns, property: string, value: unknown): unknown {
    return this.dataSource.driver.preparePersistentValue(value, columns.column(property));
  }

  /** Fills `target` from `row`, whose values for `columns` start at `offset` (select order). */
  private hydrate<T extends object>(target: T, columns: Columns, row: unknown[], offset: number): T {
    const list = columns.list;
    for (let index = 0; index < list.length; index++) {
      (target as Record<string, unknown>)[list[index].propertyName] =
        this.dataSource.driver.prepareHydratedValue(row[offset + index], list[index]);
    }
    return target;
  }

  /** A row of `users` columns followed by `organizations` columns, from `offset` (after the key). */
  private userFrom(rows: unknown[][], offset = 1): User | null {
    if (rows.length === 0) return null;
    const user = this.hydrate(new User(), this.users, rows[0], offset);
    user.organization = this.hydrate(
      new Organization(),
      this.organizations,
      rows[0],
      offset + this.users.list.length,
    );
    return user;
  }

  private credentialFrom(rows: unknown[][]): CredentialWithUser | null {
    if (rows.length === 0) return null;
    const credential = this.hydrate(new Credential(), this.credentials, rows[0], 1) as CredentialWithUser;
    credential.user = this.userFrom(rows, 1 + this.credentials.list.length) as CredentialWithUser['user'];
    return credential;
  }
}

import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { Credential } from '../entities/credential.entity';
import { Role, UserStatus } from '../entities/enums';
import { MailMessage } from '../entities/mail-message.entity';
import { Organization } from '../entities/organization.entity';
import { UserChange } from '../entities/user-change.entity';
import { UserEvent } from '../entities/user-event.entity';
import { User } from '../entities/user.entity';
import type { CredentialWithUser, GuardedUserChange, LeasedDeliveryRow } from './port';

/** Columns an update never writes: the keys, the organization, the creation time, and the version (bumped). */
const FIXED_USER_COLUMNS = new Set(['numeric_id', 'id', 'uuid', 'organization_id', 'created_at', 'version']);

/**
 * The tables' columns as TypeORM's metadata knows them, and TypeORM's value conversion (booleans, JSON
 * text) in both directions, so that the adapters' own statements read and write exactly what the
 * entities do. Rows are arrays in select order.
 */
export class EntityRows {
  readonly user: readonly ColumnMetadata[];
  readonly organization: readonly ColumnMetadata[];
  readonly credential: readonly ColumnMetadata[];
  /** The history columns a change fills, in order. */
  readonly history: readonly ColumnMetadata[];
  /** The user columns a change writes, in order. */
  readonly updated: readonly ColumnMetadata[];
  /**
   * The event columns a change fills, in order, but `dispatched`: the statement decides it (an event of
   * an organization without an enabled webhook endpoint has nothing to dispatch), see eventOrganization.
   */
  readonly event: readonly ColumnMetadata[];
  /** The position of `organization_id` in `event`. */
  readonly eventOrganization: number;
  /** The mail outbox's columns, in order. */
  readonly mail: readonly ColumnMetadata[];

  constructor(private readonly dataSource: DataSource) {
    this.user = dataSource.getMetadata(User).columns;
    this.organization = dataSource.getMetadata(Organization).columns;
    this.credential = dataSource.getMetadata(Credential).columns;
    this.history = dataSource.getMetadata(UserChange).columns.filter((column) => !column.isGenerated);
    this.updated = this.user.filter((column) => !FIXED_USER_COLUMNS.has(column.databaseName));
    this.event = dataSource
      .getMetadata(UserEvent)
      .columns.filter((column) => !column.isGenerated && column.databaseName !== 'dispatched');
    this.eventOrganization = this.event.findIndex((column) => column.databaseName === 'organization_id');
    this.mail = dataSource.getMetadata(MailMessage).columns;
  }

  /** `"a", "b", …` */
  static names(columns: readonly ColumnMetadata[]): string {
    return columns.map((column) => `"${column.databaseName}"`).join(', ');
  }

  /** `t."a" AS "t_a", …`: unique names, since SQLite's rows are objects keyed by name. */
  static select(columns: readonly ColumnMetadata[], table: string): string {
    return columns
      .map((column) => `${table}."${column.databaseName}" AS "${table}_${column.databaseName}"`)
      .join(', ');
  }

  /**
   * A keyed read (standard SQL, the same in both dialects): its key first, as "k", then the columns of
   * the credential (if it reads one), the user and the organization; `where` compares the key.
   */
  keyedRead(name: KeyedReadName, where: (key: string) => string): string {
    const user = `${EntityRows.select(this.user, 'u')}, ${EntityRows.select(this.organization, 'o')}`;
    const organization = `JOIN "organizations" o ON o."id" = u."organization_id"`;
    const [key, columns, from] = name.startsWith('user')
      ? [name === 'userById' ? 'u."id"' : 'u."numeric_id"', user, `FROM "users" u ${organization}`]
      : [
          name === 'credentialById' ? 'c."id"' : 'c."secret_hash"',
          `${EntityRows.select(this.credential, 'c')}, ${user}`,
          `FROM "credentials" c JOIN "users" u ON u."id" = c."user_id" ${organization}`,
        ];
    return `SELECT ${key} AS "k", ${columns} ${from} WHERE ${where(key)}`;
  }

  /** The values a change writes: its row's `updated` columns, its history row's, its event's, and each message's. */
  changeValues(change: GuardedUserChange): {
    updated: unknown[];
    history: unknown[];
    event: unknown[];
    mail: unknown[][];
  } {
    const driver = this.dataSource.driver;
    const value = (entity: object, column: ColumnMetadata) =>
      driver.preparePersistentValue((entity as Record<string, unknown>)[column.propertyName], column);
    return {
      updated: this.updated.map((column) => value(change.user, column)),
      history: this.history.map((column) => value(change.history, column)),
      event: this.event.map((column) => value(change.event, column)),
      mail: change.mail.map((message) => this.mail.map((column) => value(message, column))),
    };
  }

  /** A user and its organization from a row of user columns then organization columns, from `offset`. */
  userFrom(row: unknown[] | undefined, offset: number): User | null {
    if (!row) return null;
    const user = this.hydrate(new User(), this.user, row, offset);
    user.organization = this.hydrate(new Organization(), this.organization, row, offset + this.user.length);
    return user;
  }

  /** A credential, its user and the organization, from a row of their columns in that order, from `offset`. */
  credentialFrom(row: unknown[] | undefined, offset: number): CredentialWithUser | null {
    if (!row) return null;
    const credential = this.hydrate(new Credential(), this.credential, row, offset) as CredentialWithUser;
    credential.user = this.userFrom(row, offset + this.credential.length) as CredentialWithUser['user'];
    return credential;
  }

  private hydrate<T extends object>(
    target: T,
    columns: readonly ColumnMetadata[],
    row: unknown[],
    offset: number,
  ): T {
    const driver = this.dataSource.driver;
    for (let index = 0; index < columns.length; index++) {
      (target as Record<string, unknown>)[columns[index].propertyName] = driver.prepareHydratedValue(
        row[offset + index],
        columns[index],
      );
    }
    return target;
  }
}

export type KeyedReadName = 'userById' | 'userByNumericId' | 'credentialBySecretHash' | 'credentialById';
export const KEYED_READS: readonly KeyedReadName[] = [
  'userById',
  'userByNumericId',
  'credentialBySecretHash',
  'credentialById',
];
type Key = string | number;

/** The port's statements that both adapters use alike; each adapter writes them in its dialect. */
export type PlainStatementName =
  'otherActiveAdmins' | 'uniqueValueTaken' | 'touchCredential' | 'claimStands' | 'recordOutcome';

/**
 * What both adapters do alike: the keyed reads of one loop turn batched per kind (DataLoader) into one
 * statement for all their keys, their rows turned into entities (nothing cached: every request reads
 * what is committed now), and the port's plain statements, their values in the order both dialects'
 * texts take them.
 */
export abstract class PortAdapter {
  protected readonly rows: EntityRows;
  private readonly loaders = new Map<KeyedReadName, DataLoader<Key, unknown[] | undefined>>();

  constructor(dataSource: DataSource) {
    this.rows = new EntityRows(dataSource);
    for (const name of KEYED_READS) {
      const loader = new DataLoader<Key, unknown[] | undefined>(
        async (keys) => {
          const byKey = new Map((await this.readKeys(name, keys)).map((row) => [String(row[0]), row]));
          return keys.map((key) => byKey.get(String(key)));
        },
        // After the turn's I/O callbacks, so that the requests parsed in one turn share the statement.
        { cache: false, batchScheduleFn: (callback) => setImmediate(callback) },
      );
      this.loaders.set(name, loader);
    }
  }

  async credentialBySecretHash(secretHash: string): Promise<CredentialWithUser | null> {
    return this.rows.credentialFrom(await this.readKey('credentialBySecretHash', secretHash), 1);
  }

  async credentialById(id: string): Promise<CredentialWithUser | null> {
    return this.rows.credentialFrom(await this.readKey('credentialById', id), 1);
  }

  async userById(id: string): Promise<User | null> {
    return this.rows.userFrom(await this.readKey('userById', id), 1);
  }

  async userByNumericId(numericId: number): Promise<User | null> {
    return this.rows.userFrom(await this.readKey('userByNumericId', numericId), 1);
  }

  async otherActiveAdmins(organizationId: string, exceptNumericId: number): Promise<number> {
    const params = [organizationId, Role.ADMIN, UserStatus.ACTIVE, exceptNumericId];
    return Number((await this.runPlain('otherActiveAdmins', params))[0][0]);
  }

  async uniqueValueTaken(user: User): Promise<'email' | 'username' | null> {
    const params = [user.organizationId, user.emailLower, user.usernameLower, user.numericId];
    const [row] = await this.runPlain('uniqueValueTaken', params);
    return row ? (row[0] ? 'email' : 'username') : null;
  }

  async touchCredential(id: string, lastUsedAt: string): Promise<void> {
    await this.runPlain('touchCredential', [lastUsedAt, id]);
  }

  async claimStands(claimId: string): Promise<boolean> {
    return (await this.runPlain('claimStands', [claimId])).length > 0;
  }

  async recordOutcome(claimId: string, result: string): Promise<boolean> {
    return (await this.runPlain('recordOutcome', [result, claimId])).length > 0;
  }

  /** The rows, keyed by their first column, of every one of `keys` (several keys: one statement). */
  protected abstract readKeys(name: KeyedReadName, keys: readonly Key[]): Promise<unknown[][]>;

  /** One of the plain statements; its rows as arrays. */
  protected abstract runPlain(name: PlainStatementName, params: unknown[]): Promise<unknown[][]>;

  /** The row of `key`, read with the other reads of this loop turn. */
  protected readKey(name: KeyedReadName, key: Key): Promise<unknown[] | undefined> {
    return this.loaders.get(name)!.load(key);
  }
}

/** A leased delivery from the row both adapters' lease statements return (id, endpoint_id, … created_at). */
export function leasedDelivery(row: unknown[]): LeasedDeliveryRow {
  const [id, endpointId, eventSeq, eventId, userId, attempts, createdAt] = row;
  return {
    id: String(id),
    endpointId: String(endpointId),
    eventSeq: Number(eventSeq),
    eventId: String(eventId),
    userId: String(userId),
    attempts: Number(attempts),
    createdAt: String(createdAt),
  };
}

import type { Credential } from '../entities/credential.entity';
import type { MailMessage } from '../entities/mail-message.entity';
import type { Organization } from '../entities/organization.entity';
import type { UserChange } from '../entities/user-change.entity';
import type { UserEvent } from '../entities/user-event.entity';
import type { User } from '../entities/user.entity';
import type { WebhookDeliveryState } from '../entities/webhook.entity';

/** A credential with its user and the user's organization, as authentication needs them. */
export type CredentialWithUser = Credential & { user: User & { organization: Organization } };

/**
 * One change to a user, written with its history row only if its guards hold when it is written. The
 * whole row after the change is written: the version guard makes that the same as writing the changed
 * fields, and it keeps one statement text for every change.
 */
export interface GuardedUserChange {
  /** The row after the change; written only while the stored row still has version `user.version - 1`. */
  user: User;
  /** The caller (numeric id) must still be an active admin of the user's organization. */
  callerMustBeAdmin: number | null;
  /** Another active admin must remain (the change demotes or deactivates an active admin). */
  keepAnotherAdmin: boolean;
  /** The history row, written in the same transaction. */
  history: Omit<UserChange, 'seq'>;
  /** The change's event (webhooks, subscriptions), written in the same transaction. */
  event: UserEvent;
  /** Messages about the change, queued in the same transaction (the mail outbox). */
  mail: MailMessage[];
  /**
   * The history id of the change this one was worked out after, in the same list: this one applies
   * only if that one did (so a change is never written on top of a state that was not).
   */
  follows: string | null;
  /**
   * An Idempotency-Key request's claim: the change applies only while the claim stands (its row is
   * there with no outcome yet), and `result` becomes its outcome in the same transaction.
   */
  claim: { id: string; result: string } | null;
}

/**
 * What became of one change: written, refused by a guard (nothing written), refused by the database,
 * or, in an atomic call, undone because another change of it was refused.
 */
export type ChangeResult = 'applied' | 'guard-failed' | 'undone' | { error: unknown };

/** Connection counts of a pool, for metrics. */
export interface PoolState {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * The data port: what the request path asks of the database, answered by one adapter per database
 * (sqlite/, postgres/), each with its own SQL, every value bound. Everything else goes through TypeORM
 * (Database).
 */
export interface UserDataPort extends DeliveryQueue {
  credentialBySecretHash(secretHash: string): Promise<CredentialWithUser | null>;
  credentialById(id: string): Promise<CredentialWithUser | null>;
  /** The user with its organization. */
  userById(id: string): Promise<User | null>;
  userByNumericId(numericId: number): Promise<User | null>;
  /** Which of the user's unique values (email first, then username) another user of its organization has. */
  uniqueValueTaken(user: User): Promise<'email' | 'username' | null>;
  /** Active admins of the organization other than `exceptNumericId`. */
  otherActiveAdmins(organizationId: string, exceptNumericId: number): Promise<number>;
  touchCredential(id: string, lastUsedAt: string): Promise<void>;
  /** Whether an Idempotency-Key claim stands: its row is there with no outcome recorded. */
  claimStands(claimId: string): Promise<boolean>;
  /** Records the outcome of a claimed request that wrote nothing; false when the claim no longer stands. */
  recordOutcome(claimId: string, result: string): Promise<boolean>;
  /**
   * Applies the changes in one transaction, each judged by its own guards, so that one that is
   * refused leaves the others (except those that `follow` it) to apply; one user's changes in order,
   * and the history recording them in an order that agrees with what each guard saw; `atomic`: all of
   * them or none (the first refused one says why, the others are `undone`). One result per change.
   */
  applyChanges(changes: GuardedUserChange[], options?: { atomic?: boolean }): Promise<ChangeResult[]>;
  /**
   * Runs `work` on the user as read now, with its row (and its organization's) locked until `work`'s
   * writes through `port` are done, where the database has row locks (PostgreSQL); elsewhere a plain read.
   */
  withUserLocked<T>(id: string, work: (target: User | null, port: UserDataPort) => Promise<T>): Promise<T>;
  poolState(): PoolState | null;
  close(): Promise<void>;
}

/** A delivery as the sender leased it. */
export interface LeasedDeliveryRow {
  id: string;
  endpointId: string;
  eventSeq: number;
  eventId: string;
  userId: string;
  /** Attempts so far, this one included. */
  attempts: number;
  createdAt: string;
}

/** What became of a leased delivery: delivered, given up (failed), or pending again until `nextAttemptAt`. */
export interface DeliverySettlement {
  id: string;
  /** Its attempts when leased: a settlement counts only while no other lease has been taken since. */
  attempts: number;
  endpointId: string;
  userId: string;
  state: WebhookDeliveryState;
  status: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}

/**
 * The webhook sender's frequent writes, each one transaction in the adapter's own SQL (on SQLite on the
 * database thread, with the request path's writes, so that none waits for another's lock). One user's
 * deliveries to one endpoint form a line in event order; only the first pending one of a line is
 * `ready`, and only ready ones are leased. Queueing and settling keep that true: on PostgreSQL they
 * take one lock, so that a line is never judged on what another process has not committed yet.
 */
export interface DeliveryQueue {
  /**
   * Queues a delivery of each of the oldest `limit` undispatched events to each enabled endpoint of its
   * organization that takes its type, at the end of its line, and marks the events dispatched. Those
   * first of their line are leased at once until `until` (an attempt counted): those it returns.
   */
  dispatchEvents(now: string, limit: number, until: string): Promise<LeasedDeliveryRow[]>;
  /** Queues the organization's events since `since` for the endpoint again, oldest first. How many. */
  replayEvents(endpointId: string, since: string, now: string): Promise<number>;
  /**
   * Leases until `until` at most `limit` deliveries that are ready, due, not leased (or whose lease
   * ran out), to enabled endpoints, counting an attempt; on PostgreSQL skipping those another process
   * is leasing.
   */
  leaseDeliveries(now: string, until: string, limit: number): Promise<LeasedDeliveryRow[]>;
  /** Holds the leases of these pending deliveries until `until` (later than they were leased until). */
  extendLeases(deliveryIds: string[], until: string): Promise<void>;
  /**
   * Records outcomes, ends their leases, and readies the next of each line whose first is done. An
   * outcome whose lease ran out and was taken again (its attempts differ) is stale and changes nothing.
   */
  settleDeliveries(settlements: DeliverySettlement[], at: string): Promise<void>;
}

/** A database error from the request path, shaped like TypeORM's `driverError` (code, errno, constraint). */
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

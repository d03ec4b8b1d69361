import { couldBeIssuedId } from '../auth/secrets';
import type { RequestContext } from '../auth/principal';
import { Database } from '../db/database';
import type { GuardedUserChange, UserDataPort } from '../db/port';
import { Role, UserStatus } from '../entities/enums';
import { MailMessage } from '../entities/mail-message.entity';
import { Organization } from '../entities/organization.entity';
import { User } from '../entities/user.entity';
import {
  BadUserInputError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
} from '../errors/app-error';
import { conflictFrom, takenConflict } from './conflicts';
import {
  couldBeToken,
  emailChangedNotice,
  type EmailChangeSettings,
  NO_PENDING_EMAIL,
  requestEmailChange,
  tokenHash,
} from './email-change';
import { checkPageSize, decodeCursor, pageOf } from './pagination';
import { changeEvent } from './user-events';
import { changeRecord, changedFieldNames } from './user-history.service';
import { ADMIN_ONLY_FIELDS, diffUser, UserChanges, UserPatch } from './user-patch';
import { METADATA_MAX_KEYS } from './validation/user-field.rules';

export interface UpdateOptions {
  /** When set, the update is refused with CONFLICT unless the stored version still equals it. */
  expectedVersion?: number | null;
  /** Judge the update as the real call would, uniqueness included, and answer with its outcome; write nothing. */
  dryRun?: boolean;
}

/** The user after an update, and the fields that really changed (empty for a no-op). */
export interface UpdateOutcome {
  user: User;
  changedFields: string[];
}

/** One item of a bulk update; `refusal`: already refused (its input did not validate). */
export interface BulkItem {
  id: string;
  patch: UserPatch;
  expectedVersion?: number | null;
  refusal?: unknown;
}

/** One item's answer: its outcome, why it was refused, or (atomic) that it was not applied for another's refusal. */
export type BulkResult = { outcome: UpdateOutcome } | { refusal: unknown } | { notApplied: true };

export interface UserPage {
  users: User[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/**
 * A batch that loses a race with another process is tried again with the row locked (PostgreSQL), so
 * it cannot lose twice; this many attempts means something is wrong.
 */
const MAX_WRITE_ATTEMPTS = 20;
/** Updates of one user committed in one transaction at most. */
const MAX_BATCH = 64;

/**
 * What an email link (its token's hash) or the user asks of a pending email change: to apply it, to
 * cancel it (without a token: the user's own request), or to send its confirmation again.
 */
type EmailAction =
  { kind: 'confirm'; tokenHash: string } | { kind: 'cancel'; tokenHash: string | null } | { kind: 'resend' };

/** One update as the caller asked for it. */
interface UpdateCall {
  ctx: RequestContext;
  /** null: the operator (CLI), who acts outside any user's rights, or the holder of an email link. */
  caller: User | null;
  patch: UserPatch;
  options: UpdateOptions;
  /** Set instead of a patch for the actions on a pending email change. */
  emailAction?: EmailAction;
}

/** An update waiting for its user's next batch. */
interface UpdateRequest extends UpdateCall {
  resolve(outcome: UpdateOutcome): void;
  reject(error: unknown): void;
}

/** How an update was judged against the user as it stood: its answer, and the change to write if any. */
interface Judged {
  request: UpdateRequest;
  outcome?: UpdateOutcome;
  change?: GuardedUserChange;
  refusal?: unknown;
}

/** Whether the change takes an active admin's role or active status away. */
function demotesActiveAdmin(target: User, changes: UserChanges): boolean {
  const wasActiveAdmin = target.role === Role.ADMIN && target.status === UserStatus.ACTIVE;
  const staysActiveAdmin =
    (changes.role ?? target.role) === Role.ADMIN && (changes.status ?? target.status) === UserStatus.ACTIVE;
  return wasActiveAdmin && !staysActiveAdmin;
}

/** A link whose token names no pending change: never issued, used, cancelled or replaced by a newer change. */
function invalidLink(): BadUserInputError {
  return new BadUserInputError(
    [
      {
        field: 'token',
        message:
          'This link is not valid: it was already used, or the change was cancelled or replaced by a newer one',
      },
    ],
    'This email change link is not valid',
  );
}

function pendingExpired(user: User, now: string): boolean {
  return user.pendingEmailExpiresAt !== null && user.pendingEmailExpiresAt <= now;
}

/** The columns of `changes` whose values differ from `user`'s. */
function differing(user: User, changes: UserChanges): UserChanges {
  return Object.fromEntries(
    Object.entries(changes).filter(([key, value]) => user[key as keyof User] !== value),
  ) as UserChanges;
}

/** The user calling, or null for the operator. */
function callerOf(ctx: RequestContext): User | null {
  return ctx.operator ? null : requireUser(ctx);
}

function requireUser(ctx: RequestContext): User {
  if (!ctx.principal) throw new UnauthenticatedError();
  return ctx.principal.user;
}

/** An update's outcome as an Idempotency-Key claim keeps it: the user after it, as stored, and what changed. */
function outcomeRecord(outcome: UpdateOutcome): string {
  return JSON.stringify({ user: outcome.user, changedFields: outcome.changedFields });
}

/**
 * The outcome an earlier attempt of this request recorded (outcomeRecord), as the update returns it;
 * it must be of user `id` when the request names one.
 */
function appliedOutcome(record: string, id?: string): UpdateOutcome {
  const stored = JSON.parse(record) as {
    user: User & { organization?: Organization };
    changedFields: string[];
  };
  if (id !== undefined && stored.user.id !== id) {
    throw new ConflictError('This Idempotency-Key was already used to update another user');
  }
  const user = Object.assign(new User(), stored.user);
  if (stored.user.organization) {
    user.organization = Object.assign(new Organization(), stored.user.organization);
  }
  return { user, changedFields: stored.changedFields };
}

/** The request's Idempotency-Key claim was taken over by a retry (it was abandoned): nothing was written. */
function claimLost(): ConflictError {
  return new ConflictError(
    'A retry with this Idempotency-Key took the request over; this attempt wrote nothing',
  );
}

/**
 * What the changes judged before one in the same call did, which the database does not show yet: their
 * messages (the hourly confirmations), and, in an atomic updateUsers, the users they changed, as read
 * (`original`) and as they will be (`user`).
 */
interface Earlier {
  mail?: readonly MailMessage[];
  rows?: ReadonlyMap<string, { original: User | null; user: User | null }>;
}

const isActiveAdmin = (user: User | null) => user?.role === Role.ADMIN && user.status === UserStatus.ACTIVE;

/** Business rules for users: who may see and change whom, validation beyond shape, persistence. */
export class UserService {
  /** Updates waiting, per user with a batch in flight; those that arrive meanwhile make the next batch. */
  private readonly waiting = new Map<string, UpdateRequest[]>();

  constructor(
    private readonly db: Database,
    private readonly emailChange: EmailChangeSettings,
    private readonly bulkMaxItems = 100,
    /** Told when changes have committed (their events and mail with them), so senders need not wait for their next look. */
    private readonly committed: (changes: GuardedUserChange[]) => void = () => undefined,
  ) {}

  /** The caller's own record, as loaded when the request was authenticated. */
  me(ctx: RequestContext): User {
    return requireUser(ctx);
  }

  /** A user of the caller's organization, or null (another organization's users do not exist here). */
  async findById(ctx: RequestContext, id: string): Promise<User | null> {
    const caller = requireUser(ctx);
    if (!couldBeIssuedId(id)) return null;
    const user = await this.db.users.userById(id);
    return user && user.organizationId === caller.organizationId ? user : null;
  }

  /** Same as findById, addressed by the integer id. */
  async findByNumericId(ctx: RequestContext, numericId: number): Promise<User | null> {
    const caller = requireUser(ctx);
    const user = await this.db.users.userByNumericId(numericId);
    return user && user.organizationId === caller.organizationId ? user : null;
  }

  /** A page of the caller's organization, oldest first; admins only. */
  async list(ctx: RequestContext, first = 20, after?: string | null): Promise<UserPage> {
    const caller = requireUser(ctx);
    if (caller.role !== Role.ADMIN) throw new ForbiddenError('Only admins can list users');
    checkPageSize(first);
    const afterId = after ? decodeCursor('user', after) : 0;
    const rows = await this.db.read((m) =>
      m
        .getRepository(User)
        .createQueryBuilder('u')
        .innerJoinAndSelect('u.organization', 'o')
        .where('u.organization_id = :org AND u.numeric_id > :afterId', {
          org: caller.organizationId,
          afterId,
        })
        // With take() and a join TypeORM pages through a subquery that needs the property name, not the column.
        .orderBy('u.numericId', 'ASC')
        .take(first + 1)
        .getMany(),
    );
    const page = pageOf(rows, first, 'user', (user) => user.numericId);
    return { users: page.items, hasNextPage: page.hasNextPage, endCursor: page.endCursor };
  }

  /** `updateMe`: the same update, addressed by the credential rather than by input. */
  updateMe(ctx: RequestContext, patch: UserPatch, options: UpdateOptions = {}): Promise<UpdateOutcome> {
    return this.update(ctx, requireUser(ctx).id, patch, options);
  }

  /**
   * Applies `patch` to user `id`. Refusals (rights, validation, conflicts) throw and write nothing; a
   * patch that changes nothing leaves `version` and `updatedAt` alone.
   *
   * Updates of one user that arrive together are committed together: while one batch of them is being
   * written, the next ones wait, and then are judged in arrival order, each against the user as the
   * ones before it left it, and written in one transaction (applyBatch).
   */
  update(
    ctx: RequestContext,
    id: string,
    patch: UserPatch,
    options: UpdateOptions = {},
  ): Promise<UpdateOutcome> {
    const caller = callerOf(ctx);
    if (!couldBeIssuedId(id)) return Promise.reject(new NotFoundError());
    return this.enqueue(id, { ctx, caller, patch, options });
  }

  /**
   * `confirmEmailChange`: applies the pending email change the token was issued for. The token is the
   * authority (whoever opens the link); a credential sent with it must be the same user's.
   */
  async confirmEmailChange(ctx: RequestContext, token: string): Promise<UpdateOutcome> {
    // A keyed retry of a confirmation that applied: its outcome, though the token is used up now.
    const applied = ctx.idempotency?.appliedResult;
    if (applied) return appliedOutcome(applied);
    const hash = await this.pendingChangeOf(ctx, 'emailChangeTokenHash', token);
    return this.enqueue(hash.userId, this.linkCall(ctx, { kind: 'confirm', tokenHash: hash.value }));
  }

  /** `cancelEmailChange`: with the cancel link's token, or (no token) the caller's own pending change. */
  async cancelEmailChange(ctx: RequestContext, token?: string | null): Promise<UpdateOutcome> {
    if (token == null) {
      const caller = requireUser(ctx);
      return this.enqueue(caller.id, { ...this.linkCall(ctx, { kind: 'cancel', tokenHash: null }), caller });
    }
    const applied = ctx.idempotency?.appliedResult;
    if (applied) return appliedOutcome(applied);
    const hash = await this.pendingChangeOf(ctx, 'emailCancelTokenHash', token);
    return this.enqueue(hash.userId, this.linkCall(ctx, { kind: 'cancel', tokenHash: hash.value }));
  }

  /** `resendEmailChange`: new links for the caller's pending change (the old ones die), rate limited. */
  resendEmailChange(ctx: RequestContext): Promise<UpdateOutcome> {
    const caller = requireUser(ctx);
    return this.enqueue(caller.id, { ...this.linkCall(ctx, { kind: 'resend' }), caller });
  }

  private linkCall(ctx: RequestContext, emailAction: EmailAction): UpdateCall {
    return { ctx, caller: null, patch: {}, options: {}, emailAction };
  }

  /** The user whose pending change has this token (by its hash), or the refusal. */
  private async pendingChangeOf(
    ctx: RequestContext,
    column: 'emailChangeTokenHash' | 'emailCancelTokenHash',
    token: string,
  ): Promise<{ userId: string; value: string }> {
    if (!couldBeToken(token)) throw invalidLink();
    const value = tokenHash(token);
    const owner = await this.db.read((m) =>
      m.getRepository(User).findOne({ where: { [column]: value }, select: { id: true } }),
    );
    if (!owner) throw invalidLink();
    if (ctx.principal && ctx.principal.user.id !== owner.id) {
      throw new ForbiddenError('This email change link belongs to another account');
    }
    return { userId: owner.id, value };
  }

  /** Queues the call behind the user's writes in flight (writeBatches); a dry run is only judged. */
  private enqueue(id: string, call: UpdateCall): Promise<UpdateOutcome> {
    // A retry of an Idempotency-Key request whose update was applied (its answer was never stored):
    // the outcome recorded with that update, not a second one.
    const applied = call.ctx.idempotency?.appliedResult;
    if (applied) return Promise.resolve().then(() => appliedOutcome(applied, id));
    if (call.options.dryRun) return this.dryRun(call, id);
    return new Promise((resolve, reject) => {
      const request = { ...call, resolve, reject };
      const waiting = this.waiting.get(id);
      if (waiting) waiting.push(request);
      else void this.writeBatches(id, request);
    });
  }

  /**
   * `updateUsers`: each item judged with the same rules as `update`, answers in the items' order.
   * Without `atomic` each item lands or is refused on its own, items of one user in their order; with
   * it, all land or none: the refused items say why, the others are not applied.
   */
  async updateMany(
    ctx: RequestContext,
    items: BulkItem[],
    options: { atomic?: boolean } = {},
  ): Promise<BulkResult[]> {
    requireUser(ctx);
    if (items.length > this.bulkMaxItems) {
      throw new BadUserInputError([
        { field: 'items', message: `items takes at most ${this.bulkMaxItems} updates` },
      ]);
    }
    // The call's Idempotency-Key, if any, keeps the whole answer; its items are not claims of their own.
    const itemCtx = { ...ctx, idempotency: undefined };
    if (options.atomic) return this.updateAtomically(itemCtx, items);
    return Promise.all(
      items.map((item) =>
        item.refusal !== undefined
          ? { refusal: item.refusal }
          : this.update(itemCtx, item.id, item.patch, { expectedVersion: item.expectedVersion }).then(
              (outcome) => ({ outcome }),
              (refusal: unknown) => ({ refusal }),
            ),
      ),
    );
  }

  /**
   * All items judged in order (each user's items against the row as the ones before left it) and
   * written in one transaction, or none. A change another writer got to first (a guard that failed)
   * makes the whole call start again from fresh reads.
   */
  private async updateAtomically(ctx: RequestContext, items: BulkItem[]): Promise<BulkResult[]> {
    const caller = callerOf(ctx);
    const port = this.db.users;
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const rows = new Map<string, { original: User | null; user: User | null; follows: string | null }>();
      const judged: Array<{ outcome?: UpdateOutcome; change?: GuardedUserChange; refusal?: unknown }> = [];
      for (const item of items) {
        try {
          if (item.refusal !== undefined) throw item.refusal;
          if (!couldBeIssuedId(item.id)) throw new NotFoundError();
          let row = rows.get(item.id);
          if (!row) {
            const user = await port.userById(item.id);
            rows.set(item.id, (row = { original: user, user, follows: null }));
          }
          const call = { ctx, caller, patch: item.patch, options: { expectedVersion: item.expectedVersion } };
          const mail = judged.flatMap((earlier) => earlier.change?.mail ?? []);
          const { outcome, change } = await this.judge(call, row.user, port, attempt === 1, row.follows, {
            mail,
            rows,
          });
          if (change) [row.user, row.follows] = [outcome.user, change.history.id];
          judged.push({ outcome, change });
        } catch (refusal) {
          judged.push({ refusal });
        }
      }
      const notApplied = (item: (typeof judged)[number]): BulkResult =>
        item.refusal !== undefined ? { refusal: item.refusal } : { notApplied: true };
      if (judged.some((item) => item.refusal !== undefined)) return judged.map(notApplied);
      const changes = judged.flatMap((item) => (item.change ? [item.change] : []));
      const results = changes.length > 0 ? await port.applyChanges(changes, { atomic: true }) : [];
      const failed = results.findIndex((result) => result !== 'applied' && result !== 'undone');
      if (failed < 0) {
        if (changes.length > 0) this.committed(changes);
        return judged.map((item) => ({ outcome: item.outcome! }));
      }
      const why = results[failed];
      if (why === 'guard-failed') continue;
      const error = typeof why === 'object' ? why.error : why;
      return judged.map((item) =>
        item.change === changes[failed] ? { refusal: conflictFrom(error) ?? error } : { notApplied: true },
      );
    }
    throw new ConflictError('The users were changed concurrently; retry the request', { field: 'version' });
  }

  /**
   * The update judged now as the real call would judge it (rights read again, the last admin, and the
   * unique email and username, which a write would leave to the indexes, checked by a read): its
   * outcome, or its refusal. Nothing is written, nor kept for an Idempotency-Key.
   */
  private async dryRun(call: UpdateCall, id: string): Promise<UpdateOutcome> {
    const port = this.db.users;
    const { outcome, change } = await this.judge(call, await port.userById(id), port, false, null);
    const taken = change && (await port.uniqueValueTaken(change.user));
    if (taken) throw takenConflict(taken);
    return outcome;
  }

  /**
   * Writes `first`, then what arrived for the user meanwhile, batch after batch, until none waits. A
   * batch's answers go out once it is known whether another batch follows, so that an update sent
   * after an answer always starts a batch of its own.
   */
  private async writeBatches(id: string, first: UpdateRequest): Promise<void> {
    const waiting: UpdateRequest[] = [];
    this.waiting.set(id, waiting);
    // Alone, a caller updating their own record starts from the row authentication read a moment ago.
    let known = first.caller?.id === id ? first.caller! : undefined;
    for (let batch = [first]; batch.length > 0;) {
      const answers: Array<() => void> = [];
      const deferred = batch.map((request) => ({
        ...request,
        resolve: (outcome: UpdateOutcome) => answers.push(() => request.resolve(outcome)),
        reject: (error: unknown) => answers.push(() => request.reject(error)),
      }));
      // applyBatch answers every request itself; should it throw all the same, the user's queue must
      // still move on, or every later update of this user would wait forever.
      await this.applyBatch(id, deferred, known).catch((error: unknown) => {
        for (const request of deferred) request.reject(error);
      });
      known = undefined;
      batch = waiting.splice(0, MAX_BATCH);
      if (batch.length === 0) this.waiting.delete(id);
      for (const answer of answers) answer();
    }
  }

  /**
   * Optimistic: the user is read, each update judged and its change worked out, and the changes written
   * in one transaction, each only if the row still has the version it was worked out from and the
   * caller's rights still hold. Updates whose change did not apply (another process wrote first), and
   * those judged after them, start again from a fresh read, with the row locked from that read to the
   * write (PostgreSQL), so no change is ever computed from a stale row.
   */
  private async applyBatch(id: string, requests: UpdateRequest[], known?: User): Promise<void> {
    let pending = requests;
    try {
      pending = await this.tryBatch(
        pending,
        known ?? (await this.db.users.userById(id)),
        this.db.users,
        true,
      );
      for (let attempt = 2; pending.length > 0 && attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
        const retry = pending;
        pending = await this.db.users.withUserLocked(id, (target, port) =>
          this.tryBatch(retry, target, port, false),
        );
      }
    } catch (error) {
      for (const request of pending) request.reject(conflictFrom(error) ?? error);
      return;
    }
    if (pending.length === 0) return;
    const conflict = new ConflictError('The user was changed concurrently; retry the request', {
      field: 'version',
    });
    for (const request of pending) request.reject(conflict);
  }

  /** One try at the updates on `target`: each is answered, or returned to be tried again. */
  private async tryBatch(
    requests: UpdateRequest[],
    target: User | null,
    port: UserDataPort,
    first: boolean,
  ): Promise<UpdateRequest[]> {
    const judged: Judged[] = [];
    let state = target;
    let follows: string | null = null;
    for (const request of requests) {
      try {
        const mail = judged.flatMap((item) => item.change?.mail ?? []);
        const { outcome, change } = await this.judge(request, state, port, first, follows, { mail });
        judged.push({ request, outcome, change });
        if (change) [state, follows] = [outcome.user, change.history.id];
      } catch (refusal) {
        judged.push({ request, refusal });
      }
    }
    const changes = judged.flatMap((item) => (item.change ? [item.change] : []));
    const results = changes.length > 0 ? await port.applyChanges(changes) : [];
    const retry: UpdateRequest[] = [];
    // Once a change was not written, the updates judged after it (on top of it) are judged again.
    let stale = false;
    let next = 0;
    for (const { request, outcome, change, refusal } of judged) {
      if (stale) retry.push(request);
      else if (refusal) request.reject(refusal);
      else if (!change) {
        // Under an Idempotency-Key the answer "nothing to change" is kept too: a retry gets it again.
        const claim = request.ctx.idempotency;
        if (claim && !(await port.recordOutcome(claim.claimId, outcomeRecord(outcome!))))
          request.reject(claimLost());
        else request.resolve(outcome!);
      } else {
        const result = results[next++];
        if (result === 'applied') {
          this.committed([change]);
          request.resolve(outcome!);
          continue;
        }
        stale = true;
        if (typeof result === 'object') request.reject(conflictFrom(result.error) ?? result.error);
        else if (change.claim && !(await port.claimStands(change.claim.id))) request.reject(claimLost());
        else retry.push(request);
      }
    }
    return retry;
  }

  /**
   * Judges one update against `target` as it stands after the changes judged before it (`follows`,
   * the last of them; `earlier`, what they did): refusals throw; otherwise its answer and the change to
   * write, if any.
   */
  private async judge(
    request: UpdateCall,
    target: User | null,
    port: UserDataPort,
    first: boolean,
    follows: string | null,
    earlier: Earlier = {},
  ): Promise<{ outcome: UpdateOutcome; change?: GuardedUserChange }> {
    const earlierMail = earlier.mail ?? [];
    if (request.emailAction)
      return this.judgeEmailAction(request, request.emailAction, target, port, follows, earlierMail);
    const { ctx, caller, patch, options } = request;
    if (!target || (caller && target.organizationId !== caller.organizationId)) throw new NotFoundError();
    const adminFields = ADMIN_ONLY_FIELDS.filter((field) => patch[field] !== undefined);
    const self = target.id === caller?.id;
    // Users write their own record only while active. A deactivation that commits while their writes
    // wait (or before a write that lost the version guard is judged again) refuses them, as it refuses
    // their next request.
    if (self && target.status !== UserStatus.ACTIVE) throw new UnauthenticatedError('This user is inactive');
    const changes = diffUser(target, patch);
    const writes = Object.keys(changes).length > 0;
    const needsAdmin = caller !== null && (!self || adminFields.length > 0);
    if (caller && needsAdmin) {
      // The caller as authentication read it a moment ago is enough for a first attempt that writes:
      // the write itself checks the role again in the database. Otherwise (nothing to write, or a write
      // refused) the caller is read again, so a demotion that has committed counts.
      const changedInCall = earlier.rows?.get(caller.id);
      const current = self
        ? target
        : changedInCall
          ? changedInCall.user
          : first && writes
            ? caller
            : await port.userByNumericId(caller.numericId);
      if (!current || !isActiveAdmin(current)) {
        throw new ForbiddenError(
          self
            ? `Only admins can change ${adminFields.join(', ')}`
            : 'Only an admin of the organization can update another user',
        );
      }
    }
    if (options.expectedVersion != null && options.expectedVersion !== target.version) {
      throw new ConflictError(
        `The user was changed since version ${options.expectedVersion}; the current version is ${target.version}`,
        { field: 'version', currentVersion: target.version },
      );
    }
    if (changes.metadata && Object.keys(changes.metadata).length > METADATA_MAX_KEYS) {
      throw new BadUserInputError([
        { field: 'metadata', message: `metadata would have more than ${METADATA_MAX_KEYS} keys` },
      ]);
    }
    const demotes = demotesActiveAdmin(target, changes);
    if (demotes && (await this.otherActiveAdmins(port, target, earlier)) === 0) {
      throw new ConflictError('The last active admin of an organization cannot be demoted or deactivated', {
        field: changes.role !== undefined && changes.role !== Role.ADMIN ? 'role' : 'status',
      });
    }
    if (!writes) return { outcome: { user: target, changedFields: [] } };
    const now = new Date();
    const mail: MailMessage[] = [];
    // A deactivation ends a pending email change: its link must not work again once the user is active
    // (the account may have been deactivated because someone else asked for that address).
    const deactivates = changes.status === UserStatus.INACTIVE;
    if (deactivates) Object.assign(changes, differing(target, NO_PENDING_EMAIL));
    if (changes.emailLower !== undefined && changes.emailLower !== target.emailLower) {
      const newEmail = changes.email!;
      if (self && deactivates) {
        // A deactivation ends pending changes (above); it cannot start one.
        throw new BadUserInputError([
          { field: 'email', message: 'email cannot change in the request that deactivates its own user' },
        ]);
      }
      if (self) {
        // Users' own new address waits until they confirm it through the link sent to it; the one
        // they have stays (and is told, with a link that cancels the change).
        const pending = await this.pendingEmailChange(port, target, newEmail, now, earlierMail);
        delete changes.email;
        delete changes.emailLower;
        delete changes.emailVerified;
        Object.assign(changes, pending.columns);
        mail.push(...pending.mail);
      } else {
        // An admin's (or the operator's) change applies at once, unverified; a pending change dies.
        Object.assign(changes, differing(target, NO_PENDING_EMAIL));
        mail.push(emailChangedNotice(target, newEmail, now));
      }
    }
    return this.changeOf(ctx, target, changes, now, {
      callerMustBeAdmin: caller && needsAdmin ? caller.numericId : null,
      keepAnotherAdmin: demotes,
      follows,
      mail,
    });
  }

  /** The organization's active admins but `target`, counting what the changes judged before did to them. */
  private async otherActiveAdmins(port: UserDataPort, target: User, earlier: Earlier): Promise<number> {
    let count = await port.otherActiveAdmins(target.organizationId, target.numericId);
    for (const { original, user } of earlier.rows?.values() ?? []) {
      if (!original || original.id === target.id || original.organizationId !== target.organizationId)
        continue;
      count += Number(isActiveAdmin(user)) - Number(isActiveAdmin(original));
    }
    return count;
  }

  /** The change to write for `changes` to `target`, and the update's answer. */
  private changeOf(
    ctx: RequestContext,
    target: User,
    changes: UserChanges,
    now: Date,
    guards: Pick<GuardedUserChange, 'callerMustBeAdmin' | 'keepAnotherAdmin' | 'follows' | 'mail'>,
    byLink = false,
  ): { outcome: UpdateOutcome; change: GuardedUserChange } {
    const updatedAt = now.toISOString();
    const user = Object.assign(new User(), target, changes, { updatedAt, version: target.version + 1 });
    const outcome = { user, changedFields: changedFieldNames(changes) };
    const claim = ctx.idempotency;
    const history = changeRecord(ctx, target, changes, updatedAt, byLink);
    return {
      outcome,
      change: {
        user,
        ...guards,
        history,
        event: changeEvent(target, user, history),
        claim: claim ? { id: claim.claimId, result: outcomeRecord(outcome) } : null,
      },
    };
  }

  /**
   * Judges an action on `target`'s pending email change. The token was looked up before the call was
   * queued; it is checked again here, against the row as it stands now.
   */
  private async judgeEmailAction(
    request: UpdateCall,
    action: EmailAction,
    target: User | null,
    port: UserDataPort,
    follows: string | null,
    earlierMail: readonly MailMessage[],
  ): Promise<{ outcome: UpdateOutcome; change?: GuardedUserChange }> {
    const now = new Date();
    const at = now.toISOString();
    if (!target) throw action.kind === 'resend' ? new NotFoundError() : invalidLink();
    // A deactivated user's pending address is not confirmed or sent again; the change can still be cancelled.
    if (action.kind !== 'cancel' && target.status !== UserStatus.ACTIVE)
      throw new ForbiddenError('This user is inactive: the email change cannot be confirmed or sent again');
    const guards = { callerMustBeAdmin: null, keepAnotherAdmin: false, follows, mail: [] as MailMessage[] };
    const noPending = () =>
      new ConflictError('No email change is pending for this user', { field: 'pendingEmail' });
    const expired = () =>
      new BadUserInputError(
        [
          {
            field: 'token',
            message: `This link expired at ${target.pendingEmailExpiresAt}; change the email again`,
          },
        ],
        'This email change link has expired',
      );
    if (action.kind === 'confirm') {
      if (target.emailChangeTokenHash !== action.tokenHash || target.pendingEmail === null)
        throw invalidLink();
      if (pendingExpired(target, at)) throw expired();
      const email = target.pendingEmail;
      const changes = differing(target, {
        email,
        emailLower: email.toLowerCase(),
        emailVerified: true,
        ...NO_PENDING_EMAIL,
      });
      // The unique index refuses an address another user took meanwhile (CONFLICT, conflictFrom).
      return this.changeOf(request.ctx, target, changes, now, guards, true);
    }
    if (action.kind === 'cancel') {
      if (action.tokenHash !== null) {
        if (target.emailCancelTokenHash !== action.tokenHash) throw invalidLink();
        if (pendingExpired(target, at)) throw expired();
      } else if (target.pendingEmail === null || pendingExpired(target, at)) throw noPending();
      return this.changeOf(request.ctx, target, differing(target, NO_PENDING_EMAIL), now, guards, true);
    }
    if (target.pendingEmail === null || pendingExpired(target, at)) throw noPending();
    const pending = await this.pendingEmailChange(port, target, target.pendingEmail, now, earlierMail);
    const changes = differing(target, pending.columns);
    return this.changeOf(request.ctx, target, changes, now, { ...guards, mail: pending.mail });
  }

  /**
   * A user's own change to `newEmail` (or its resend): refused when another user of the organization
   * has the address or the hour's confirmations are spent; otherwise its columns and messages.
   */
  private async pendingEmailChange(
    port: UserDataPort,
    target: User,
    newEmail: string,
    now: Date,
    earlierMail: readonly MailMessage[],
  ) {
    const taken = await port.uniqueValueTaken(
      Object.assign(new User(), target, { emailLower: newEmail.toLowerCase() }),
    );
    if (taken === 'email') throw takenConflict('email');
    await this.checkConfirmationBudget(target, now, earlierMail);
    return requestEmailChange(this.emailChange, target, newEmail, now);
  }

  /**
   * Refuses a change or resend beyond the confirmation messages a user may have sent in an hour: those
   * stored, and those of the changes judged before it in the same batch (`earlierMail`). Another
   * process's are stored before this change can apply: its write bumped the version this one is
   * guarded by, and the retry judges again.
   */
  private async checkConfirmationBudget(
    user: User,
    now: Date,
    earlierMail: readonly MailMessage[],
  ): Promise<void> {
    const since = new Date(now.getTime() - 60 * 60 * 1000).toISOString();
    const stored = await this.db.read((m) =>
      m
        .getRepository(MailMessage)
        .createQueryBuilder('m')
        .select('m.created_at', 'createdAt')
        .where('m.user_id = :userId AND m.kind = :kind AND m.created_at > :since', {
          userId: user.id,
          kind: 'email-change-confirmation',
          since,
        })
        .orderBy('m.created_at', 'ASC')
        .getRawMany<{ createdAt: string }>(),
    );
    const sent = [
      ...stored,
      ...earlierMail.filter(
        (message) => message.kind === 'email-change-confirmation' && message.userId === user.id,
      ),
    ];
    if (sent.length < this.emailChange.maxPerHour) return;
    const freed = new Date(sent[sent.length - this.emailChange.maxPerHour].createdAt).getTime() + 3600_000;
    const retryAfter = Math.max(1, Math.ceil((freed - now.getTime()) / 1000));
    throw new RateLimitedError(
      `At most ${this.emailChange.maxPerHour} email change confirmations are sent per hour; try again in ${retryAfter} s`,
      { 'Retry-After': String(retryAfter) },
    );
  }

  /** Every user of an organization, oldest first (operator CLI). */
  async listOrganization(ctx: RequestContext, organizationId: string): Promise<User[]> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can list organizations');
    return this.db.read((m) =>
      m
        .getRepository(User)
        .createQueryBuilder('u')
        .innerJoinAndSelect('u.organization', 'o')
        .where('u.organization_id = :organizationId', { organizationId })
        .orderBy('u.numeric_id', 'ASC')
        .getMany(),
    );
  }
}

import crypto from 'node:crypto';
import { couldBeIssuedId, randomId } from '../auth/secrets';
import type { RequestContext } from '../auth/principal';
import { Database, uniqueViolation } from '../db/database';
import type { UserStore } from '../db/user-store';
import { Role, UserStatus } from '../entities/enums';
import { Organization } from '../entities/organization.entity';
import { User } from '../entities/user.entity';
import {
  BadUserInputError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from '../errors/app-error';
import { checkPageSize, decodeCursor, pageOf } from './pagination';
import { changeRecord, changedFieldNames } from './user-history.service';
import { ADMIN_ONLY_FIELDS, diffUser, UserChanges, UserPatch } from './user-patch';
import { canonicalTimezone, METADATA_MAX_KEYS } from './validation/user-field.rules';
import { NewUserInput } from './validation/new-user.input';
import { validateInput } from './validation/validate-input';

export interface UpdateOptions {
  /** When set, the update is refused with CONFLICT unless the stored version still equals it. */
  expectedVersion?: number | null;
}

/** The user after an update, and the fields that really changed (empty for a no-op). */
export interface UpdateOutcome {
  user: User;
  changedFields: string[];
}

export interface UserPage {
  users: User[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/**
 * Writes to one user in one process take turns (see update). Between processes a write can still lose
 * a race once; the attempts after it hold the row (PostgreSQL), so this many means something is wrong.
 */
const MAX_WRITE_ATTEMPTS = 20;

/** Runs work for one key at a time, in arrival order; different keys do not wait for each other. */
class KeyedTurns {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous ? previous.then(work, work) : work();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

/** Whether the change takes an active admin's role or active status away. */
function demotesActiveAdmin(target: User, changes: UserChanges): boolean {
  const wasActiveAdmin = target.role === Role.ADMIN && target.status === UserStatus.ACTIVE;
  const staysActiveAdmin =
    (changes.role ?? target.role) === Role.ADMIN && (changes.status ?? target.status) === UserStatus.ACTIVE;
  return wasActiveAdmin && !staysActiveAdmin;
}

function nowIso(): string {
  return new Date().toISOString();
}

function requireUser(ctx: RequestContext): User {
  if (!ctx.principal) throw new UnauthenticatedError();
  return ctx.principal.user;
}

function conflictFrom(error: unknown): ConflictError | null {
  const violation = uniqueViolation(error);
  if (!violation) return null;
  if (/email/i.test(violation.constraint))
    return new ConflictError('Email already taken', { field: 'email' });
  if (/username/i.test(violation.constraint))
    return new ConflictError('Username already taken', { field: 'username' });
  return new ConflictError('A unique value is already taken');
}

/** An update's outcome as an Idempotency-Key claim keeps it: the user after it, as stored, and what changed. */
function outcomeRecord(outcome: UpdateOutcome): string {
  return JSON.stringify({ user: outcome.user, changedFields: outcome.changedFields });
}

/** The outcome an earlier attempt of this request recorded (outcomeRecord), as the update returns it. */
function appliedOutcome(record: string, id: string): UpdateOutcome {
  const stored = JSON.parse(record) as {
    user: User & { organization?: Organization };
    changedFields: string[];
  };
  if (stored.user.id !== id) {
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

/** Business rules for users: who may see and change whom, validation beyond shape, persistence. */
export class UserService {
  private readonly writersPerUser = new KeyedTurns();

  constructor(private readonly db: Database) {}

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
   * Applies `patch` to user `id`. Refusals (rights, validation, conflicts) throw before anything is
   * written; a patch that changes nothing leaves `version` and `updatedAt` alone.
   *
   * Optimistic: the user is read, the change worked out, and then written in one transaction only if
   * the row still has the version it was read at and the caller's rights still hold (UserStore
   * applyChange). When another writer got there first, the whole thing starts again from a fresh read,
   * so no change is ever computed from a stale row. Writers to one user in this process take turns, so
   * such races only happen between processes, and on PostgreSQL the second attempt holds the row lock
   * from its read to its write (UserStore.withUserLocked), so no writer loses twice.
   */
  async update(
    ctx: RequestContext,
    id: string,
    patch: UserPatch,
    options: UpdateOptions = {},
  ): Promise<UpdateOutcome> {
    const caller = requireUser(ctx);
    if (!couldBeIssuedId(id)) throw new NotFoundError();
    // A retry of an Idempotency-Key request whose update was applied (its answer was never stored):
    // the outcome recorded with that update, not a second one.
    const applied = ctx.idempotency?.appliedResult;
    if (applied) return appliedOutcome(applied, id);
    try {
      return await this.writersPerUser.run(id, () => this.updateOnce(ctx, caller, id, patch, options));
    } catch (error) {
      throw conflictFrom(error) ?? error;
    }
  }

  private async updateOnce(
    ctx: RequestContext,
    caller: User,
    id: string,
    patch: UserPatch,
    options: UpdateOptions,
  ): Promise<UpdateOutcome> {
    // Your own record was read with your credential a moment ago: a first attempt starts from that
    // read (the write checks that its version is still current).
    const first = await this.attempt(
      ctx,
      { caller, patch, options, first: true },
      id === caller.id ? caller : await this.db.users.userById(id),
      this.db.users,
    );
    if (first) return first;
    // Another writer (another process) got there first. The next attempts read the user with its row
    // locked until they have written (PostgreSQL), so they cannot lose the race again; they end unless
    // the caller's rights or the organization's admins change under them at every turn.
    for (let attempt = 2; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const outcome = await this.db.users.withUserLocked(id, (target, users) =>
        this.attempt(ctx, { caller, patch, options, first: false }, target, users),
      );
      if (outcome) return outcome;
    }
    throw new ConflictError('The user was changed concurrently; retry the request', { field: 'version' });
  }

  /**
   * One try at an update of `target`: refusals throw, null when the write found the row or the rights
   * changed since they were read (nothing written).
   */
  private async attempt(
    ctx: RequestContext,
    request: { caller: User; patch: UserPatch; options: UpdateOptions; first: boolean },
    target: User | null,
    users: UserStore,
  ): Promise<UpdateOutcome | null> {
    const { caller, patch, options, first } = request;
    if (!target || target.organizationId !== caller.organizationId) throw new NotFoundError();
    const adminFields = ADMIN_ONLY_FIELDS.filter((field) => patch[field] !== undefined);
    const self = target.id === caller.id;
    const changes = diffUser(target, patch);
    const writes = Object.keys(changes).length > 0;
    const needsAdmin = !self || adminFields.length > 0;
    if (needsAdmin) {
      // The caller as authentication read it a moment ago is enough for a first attempt that writes:
      // the write itself re-checks the role in the database. Otherwise (nothing to write, or a write
      // refused) the caller is read again, so a demotion that has committed counts.
      const current = self
        ? target
        : first && writes
          ? caller
          : await users.userByNumericId(caller.numericId);
      if (!current || current.role !== Role.ADMIN || current.status !== UserStatus.ACTIVE) {
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
    if (demotes && (await users.otherActiveAdmins(target.organizationId, target.numericId)) === 0) {
      throw new ConflictError('The last active admin of an organization cannot be demoted or deactivated', {
        field: changes.role !== undefined && changes.role !== Role.ADMIN ? 'role' : 'status',
      });
    }
    const claim = ctx.idempotency;
    if (!writes) {
      const outcome = { user: target, changedFields: [] };
      // Under an Idempotency-Key the answer "nothing to change" is kept too: a retry gets it again.
      if (claim && !(await users.recordOutcome(claim.claimId, outcomeRecord(outcome)))) {
        throw claimLost();
      }
      return outcome;
    }
    const updatedAt = nowIso();
    const user = Object.assign(new User(), target, changes, { updatedAt, version: target.version + 1 });
    const outcome = { user, changedFields: changedFieldNames(changes) };
    const applied = await users.applyChange({
      numericId: target.numericId,
      version: target.version,
      organizationId: target.organizationId,
      set: { ...changes, updatedAt },
      callerMustBeAdmin: needsAdmin ? caller.numericId : undefined,
      keepAnotherAdmin: demotes,
      history: changeRecord(ctx, target, changes, updatedAt),
      claim: claim && { id: claim.claimId, result: outcomeRecord(outcome) },
    });
    if (!applied) {
      if (claim && !(await users.claimStands(claim.claimId))) throw claimLost();
      return null;
    }
    return outcome;
  }

  /** Creates a user (operator CLI and demo seeding). */
  async create(ctx: RequestContext, input: Omit<NewUserInput, never>): Promise<User> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can create users');
    const candidate = Object.assign(new NewUserInput(), input);
    await validateInput(candidate);
    const now = nowIso();
    try {
      return await this.db.write(async (m) => {
        const organization = await m.getRepository(Organization).findOneBy({ id: candidate.organizationId });
        if (!organization) throw new NotFoundError(`Organization ${candidate.organizationId} not found`);
        // Checked first so that both databases name the same conflict when the email and the username
        // are both taken (PostgreSQL would report whichever unique index it happens to check first):
        // the import skips rows whose email exists, and refuses other conflicts.
        const emailTaken = await m
          .getRepository(User)
          .existsBy({ organizationId: organization.id, emailLower: candidate.email.toLowerCase() });
        if (emailTaken) throw new ConflictError('Email already taken', { field: 'email' });
        const user = m.create(User, {
          id: randomId('usr_'),
          uuid: crypto.randomUUID(),
          organizationId: organization.id,
          email: candidate.email,
          emailLower: candidate.email.toLowerCase(),
          emailVerified: false,
          name: candidate.name,
          username: candidate.username ?? null,
          usernameLower: candidate.username ? candidate.username.toLowerCase() : null,
          firstName: candidate.firstName ?? null,
          lastName: candidate.lastName ?? null,
          role: candidate.role ?? Role.MEMBER,
          status: UserStatus.ACTIVE,
          creditsBalance: 0,
          jobTitle: candidate.jobTitle ?? null,
          companyName: candidate.companyName ?? null,
          experiments: [],
          projectsSortOrder: null,
          timezone: candidate.timezone ? canonicalTimezone(candidate.timezone) : null,
          metadata: {},
          createdAt: now,
          updatedAt: now,
          version: 1,
        });
        await m.createQueryBuilder().insert().into(User).values(user).execute();
        const stored = await m
          .getRepository(User)
          .findOne({ where: { id: user.id }, relations: { organization: true } });
        if (!stored) throw new Error('inserted user vanished');
        return stored;
      });
    } catch (error) {
      throw conflictFrom(error) ?? error;
    }
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

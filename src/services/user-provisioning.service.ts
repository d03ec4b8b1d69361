import crypto from 'node:crypto';
import { type EntityManager, In } from 'typeorm';
import type { RequestContext } from '../auth/principal';
import { randomId } from '../auth/secrets';
import { Database, uniqueViolation } from '../db/database';
import { Role, UserStatus } from '../entities/enums';
import { Organization } from '../entities/organization.entity';
import { UserEvent } from '../entities/user-event.entity';
import { WebhookEndpoint } from '../entities/webhook.entity';
import { User } from '../entities/user.entity';
import { ForbiddenError, NotFoundError } from '../errors/app-error';
import { conflictFrom, takenConflict } from './conflicts';
import { createdEvent } from './user-events';
import { OPERATOR_ACTOR } from './user-history.service';
import { canonicalTimezone } from './validation/user-field.rules';
import { NEW_USER_REQUIRED, NewUserInput } from './validation/new-user.input';
import { validateInput } from './validation/validate-input';

/** New users are the operator's doing (the CLI, demo seeding). */
const OPERATOR = { userId: OPERATOR_ACTOR, credentialId: OPERATOR_ACTOR };

/** Events of an organization without an enabled webhook endpoint have nothing to dispatch (as the data port decides). */
async function bornDispatched(m: EntityManager, events: UserEvent[]): Promise<UserEvent[]> {
  if (events.length === 0) return events;
  const endpoints = await m
    .getRepository(WebhookEndpoint)
    .existsBy({ organizationId: events[0].organizationId, enabled: true });
  for (const event of events) event.dispatched = !endpoints;
  return events;
}

/** One input of createMany: the user created, or why not. */
export type CreateResult = { user: User } | { refusal: unknown };

/** A new active user from validated input, as `create` and `createMany` insert it. */
function newUser(candidate: NewUserInput, now: string): User {
  return Object.assign(new User(), {
    id: randomId('usr_'),
    uuid: crypto.randomUUID(),
    organizationId: candidate.organizationId,
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
}

function nowIso(): string {
  return new Date().toISOString();
}

/** The operator's side of users: creating them, one or a file's batch at a time (CLI and demo seeding). */
export class UserProvisioningService {
  constructor(private readonly db: Database) {}

  /** Creates a user (operator CLI and demo seeding). */
  async create(ctx: RequestContext, input: NewUserInput): Promise<User> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can create users');
    const candidate = Object.assign(new NewUserInput(), input);
    await validateInput(candidate, NEW_USER_REQUIRED);
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
        if (emailTaken) throw takenConflict('email');
        const user = newUser(candidate, nowIso());
        await m.createQueryBuilder().insert().into(User).values(user).execute();
        const stored = await m
          .getRepository(User)
          .findOne({ where: { id: user.id }, relations: { organization: true } });
        if (!stored) throw new Error('inserted user vanished');
        await m
          .getRepository(UserEvent)
          .insert(await bornDispatched(m, [createdEvent(stored, OPERATOR, ctx.requestId)]));
        return stored;
      });
    } catch (error) {
      throw conflictFrom(error) ?? error;
    }
  }

  /**
   * Creates users of one organization in one transaction (the operator's import): each input is
   * validated and checked for a taken email (first) or username, in the database and earlier in the
   * list, on its own; the others are inserted with one statement. When that statement is refused (a
   * writer elsewhere took a value meanwhile), each is created alone. One answer per input, in order.
   */
  async createMany(
    ctx: RequestContext,
    organizationId: string,
    inputs: NewUserInput[],
  ): Promise<CreateResult[]> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can create users');
    const results: CreateResult[] = [];
    const candidates: Array<{ index: number; user: User }> = [];
    const now = nowIso();
    for (const [index, input] of inputs.entries()) {
      const candidate = Object.assign(new NewUserInput(), input, { organizationId });
      try {
        await validateInput(candidate, NEW_USER_REQUIRED);
        candidates.push({ index, user: newUser(candidate, now) });
        results.push({ refusal: null });
      } catch (refusal) {
        results.push({ refusal });
      }
    }
    if (candidates.length === 0) return results;
    try {
      await this.db.write(async (m) => {
        if (!(await m.getRepository(Organization).existsBy({ id: organizationId })))
          throw new NotFoundError(`Organization ${organizationId} not found`);
        const emails = candidates.map(({ user }) => user.emailLower);
        const usernames = candidates.flatMap(({ user }) => (user.usernameLower ? [user.usernameLower] : []));
        const existing = await m.getRepository(User).find({
          select: { emailLower: true, usernameLower: true },
          where: [
            { organizationId, emailLower: In(emails) },
            ...(usernames.length ? [{ organizationId, usernameLower: In(usernames) }] : []),
          ],
        });
        const takenEmails = new Set(existing.map((user) => user.emailLower));
        const takenUsernames = new Set(
          existing.flatMap((user) => (user.usernameLower ? [user.usernameLower] : [])),
        );
        const inserted: User[] = [];
        for (const { index, user } of candidates) {
          const taken = takenEmails.has(user.emailLower)
            ? 'email'
            : user.usernameLower && takenUsernames.has(user.usernameLower)
              ? 'username'
              : null;
          if (taken) {
            results[index] = { refusal: takenConflict(taken) };
            continue;
          }
          takenEmails.add(user.emailLower);
          if (user.usernameLower) takenUsernames.add(user.usernameLower);
          inserted.push(user);
          results[index] = { user };
        }
        // In statements of a hundred rows: TypeORM's work on one statement grows faster than its rows.
        // Generated columns are not read back by the insert; the events need the numeric ids, read after.
        for (let start = 0; start < inserted.length; start += 100) {
          const rows = inserted.slice(start, start + 100);
          await m.createQueryBuilder().insert().into(User).values(rows).updateEntity(false).execute();
          const numericIds = new Map(
            (
              await m.getRepository(User).find({
                select: { id: true, numericId: true },
                where: { id: In(rows.map((user) => user.id)) },
              })
            ).map((user) => [user.id, user.numericId]),
          );
          const events = await bornDispatched(
            m,
            rows.map((user) =>
              createdEvent(
                Object.assign(user, { numericId: numericIds.get(user.id) }),
                OPERATOR,
                ctx.requestId,
              ),
            ),
          );
          await m.createQueryBuilder().insert().into(UserEvent).values(events).updateEntity(false).execute();
        }
      });
    } catch (error) {
      if (!uniqueViolation(error)) throw error;
      for (const { index } of candidates) {
        results[index] = await this.create(ctx, { ...inputs[index], organizationId }).then(
          (user) => ({ user }),
          (refusal: unknown) => ({ refusal }),
        );
      }
    }
    return results;
  }

  /** The ids of the organization's users with these emails (any capitalisation), by lower-cased email. */
  async existingByEmail(
    ctx: RequestContext,
    organizationId: string,
    emails: string[],
  ): Promise<Map<string, string>> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can look users up by email');
    const lower = [...new Set(emails.map((email) => email.toLowerCase()))];
    if (lower.length === 0) return new Map();
    const found = await this.db.read((m) =>
      m
        .getRepository(User)
        .find({ select: { id: true, emailLower: true }, where: { organizationId, emailLower: In(lower) } }),
    );
    return new Map(found.map((user) => [user.emailLower, user.id]));
  }

  /**
   * The operator's input for an existing user (an import's --update row), validated by the same rules as
   * `create`; only its email, which finds the user, must be there: the other columns are a partial update.
   */
  async validateUserUpdate(input: NewUserInput): Promise<NewUserInput> {
    const candidate = Object.assign(new NewUserInput(), input);
    await validateInput(candidate, ['email']);
    return candidate;
  }

  /**
   * Refreshes the database's statistics of the users table after many rows arrived at once (the
   * import): with the old ones the planner took the grown table for a small one, and updates by key
   * scanned it (100,000 updates after an import of as many users: 91 s on PostgreSQL, 16 s after it).
   */
  async refreshStatistics(ctx: RequestContext): Promise<void> {
    if (!ctx.operator) throw new ForbiddenError('Only the operator can refresh statistics');
    await this.db.write((m) => m.query('ANALYZE "users"'));
  }
}

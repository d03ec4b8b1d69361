import type { RequestContext } from '../auth/principal';
import { couldBeIssuedId, randomId } from '../auth/secrets';
import { Database } from '../db/database';
import { Role } from '../entities/enums';
import { FieldChange, FieldValue, UserChange } from '../entities/user-change.entity';
import { User } from '../entities/user.entity';
import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../errors/app-error';
import { checkPageSize, decodeCursor, pageOf } from './pagination';
import type { UserChanges } from './user-patch';

/**
 * Columns that only mirror another one (lower-cased copies for unique indexes) or go with one (a
 * pending email's expiry and link tokens, which are secrets) are not history.
 */
const DERIVED_COLUMNS = new Set([
  'emailLower',
  'usernameLower',
  'pendingEmailExpiresAt',
  'emailChangeTokenHash',
  'emailCancelTokenHash',
]);

/**
 * The fields a change touched, as the API names them. The expiry of a pending email follows the
 * address, but for a resend, where it is all that changes that the user can see.
 */
export function changedFieldNames(changes: UserChanges): string[] {
  return Object.keys(changes).filter(
    (field) =>
      !DERIVED_COLUMNS.has(field) ||
      (field === 'pendingEmailExpiresAt' && changes.pendingEmail === undefined),
  );
}

/** The actor and credential a change made by the operator (the CLI) is recorded with. */
export const OPERATOR_ACTOR = 'operator';

/** The credential a change made through an email link (its token) is recorded with. */
export const EMAIL_LINK_CREDENTIAL = 'email-link';

/**
 * The history row of one change; the update writes it in its own transaction (UserDataPort.applyChanges).
 * `byLink`: made through an email link by whoever holds it, recorded as the user, unless a credential
 * came with the request.
 */
export function changeRecord(
  ctx: RequestContext,
  before: User,
  changes: UserChanges,
  at: string,
  byLink = false,
): Omit<UserChange, 'seq'> {
  if (!ctx.principal && !ctx.operator && !byLink) throw new UnauthenticatedError();
  const fields = changedFieldNames(changes);
  const detail: Record<string, FieldChange> = {};
  for (const field of fields) {
    detail[field] = {
      before: (before[field as keyof User] ?? null) as FieldValue,
      after: (changes[field as keyof UserChanges] ?? null) as FieldValue,
    };
  }
  return {
    id: randomId('chg_'),
    organizationId: before.organizationId,
    userId: before.id,
    actorUserId: ctx.principal?.user.id ?? (byLink ? before.id : OPERATOR_ACTOR),
    credentialId: ctx.principal?.credentialId ?? (byLink ? EMAIL_LINK_CREDENTIAL : OPERATOR_ACTOR),
    requestId: ctx.requestId.slice(0, 128),
    changedFields: fields,
    changes: detail,
    createdAt: at,
  };
}

export interface ChangePage {
  changes: UserChange[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Reads the change history of a user, newest first. */
export class UserHistoryService {
  constructor(private readonly db: Database) {}

  /** For admins of the user's organization; another organization's user is NOT_FOUND, as everywhere. */
  async list(ctx: RequestContext, userId: string, first = 20, after?: string | null): Promise<ChangePage> {
    if (!ctx.operator) {
      if (!ctx.principal) throw new UnauthenticatedError();
      if (ctx.principal.user.role !== Role.ADMIN)
        throw new ForbiddenError('Only admins can read change history');
    }
    checkPageSize(first);
    const before = after ? decodeCursor('change', after) : null;
    if (!couldBeIssuedId(userId)) throw new NotFoundError();
    const rows = await this.db.read(async (m) => {
      const owner = await m
        .getRepository(User)
        .findOne({ where: { id: userId }, select: { organizationId: true } });
      const organizationId = owner?.organizationId;
      if (!organizationId || (!ctx.operator && organizationId !== ctx.principal!.user.organizationId)) {
        throw new NotFoundError();
      }
      const query = m
        .getRepository(UserChange)
        .createQueryBuilder('c')
        .where('c.user_id = :userId', { userId });
      if (before !== null) query.andWhere('c.seq < :before', { before });
      return query
        .orderBy('c.seq', 'DESC')
        .take(first + 1)
        .getMany();
    });
    const page = pageOf(rows, first, 'change', (change) => change.seq);
    return { changes: page.items, hasNextPage: page.hasNextPage, endCursor: page.endCursor };
  }
}

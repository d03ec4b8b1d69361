import { ProjectsSortOrder, Role, UserStatus } from '../entities/enums';
import type { Metadata, User } from '../entities/user.entity';
import { canonicalTimezone } from './validation/user-field.rules';

/** A partial update: `undefined` (or absent) leaves a field alone, `null` clears a nullable one. */
export interface UserPatch {
  name?: string;
  email?: string;
  username?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  jobTitle?: string | null;
  companyName?: string | null;
  experiments?: string[];
  projectsSortOrder?: ProjectsSortOrder | null;
  timezone?: string | null;
  role?: Role;
  status?: UserStatus;
  /** Merged per key (RFC 7396): a key set to null is removed. */
  metadata?: Record<string, string | number | boolean | null>;
}

/** Fields only an admin may change, even on their own record. */
export const ADMIN_ONLY_FIELDS = ['role', 'status', 'metadata'] as const;

/** The stored columns a patch can change, as they will be written. */
export type UserChanges = Partial<
  Pick<
    User,
    | 'name'
    | 'email'
    | 'emailLower'
    | 'emailVerified'
    | 'username'
    | 'usernameLower'
    | 'firstName'
    | 'lastName'
    | 'jobTitle'
    | 'companyName'
    | 'experiments'
    | 'projectsSortOrder'
    | 'timezone'
    | 'role'
    | 'status'
    | 'metadata'
    | 'pendingEmail'
    | 'pendingEmailExpiresAt'
    | 'emailChangeTokenHash'
    | 'emailCancelTokenHash'
  >
>;

const SIMPLE_FIELDS = [
  'name',
  'firstName',
  'lastName',
  'jobTitle',
  'companyName',
  'projectsSortOrder',
  'role',
  'status',
] as const;

/** Applies RFC 7396 to a flat metadata object; `__proto__` and friends stay ordinary own keys. */
export function mergeMetadata(current: Metadata, patch: NonNullable<UserPatch['metadata']>): Metadata {
  const merged = new Map(Object.entries(current));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) merged.delete(key);
    else merged.set(key, value);
  }
  return Object.fromEntries(merged) as Metadata;
}

function sameMetadata(a: Metadata, b: Metadata): boolean {
  const aKeys = Object.keys(a);
  return (
    aKeys.length === Object.keys(b).length && aKeys.every((key) => Object.hasOwn(b, key) && b[key] === a[key])
  );
}

/** Computes the columns that really change; an empty result means the update is a no-op. */
export function diffUser(current: User, patch: UserPatch): UserChanges {
  const changes: UserChanges = {};
  for (const field of SIMPLE_FIELDS) {
    const value = patch[field];
    if (value !== undefined && value !== current[field]) (changes as Record<string, unknown>)[field] = value;
  }
  if (patch.email !== undefined && patch.email !== current.email) {
    changes.email = patch.email;
    changes.emailLower = patch.email.toLowerCase();
    // A different address (not just different capitals) has not been verified yet.
    if (changes.emailLower !== current.emailLower && current.emailVerified) changes.emailVerified = false;
  }
  if (patch.username !== undefined && patch.username !== current.username) {
    changes.username = patch.username;
    changes.usernameLower = patch.username === null ? null : patch.username.toLowerCase();
  }
  if (patch.timezone !== undefined) {
    const zone = patch.timezone === null ? null : (canonicalTimezone(patch.timezone) ?? patch.timezone);
    if (zone !== current.timezone) changes.timezone = zone;
  }
  if (patch.experiments !== undefined) {
    const same =
      patch.experiments.length === current.experiments.length &&
      patch.experiments.every((item, index) => item === current.experiments[index]);
    if (!same) changes.experiments = [...patch.experiments];
  }
  if (patch.metadata !== undefined) {
    const merged = mergeMetadata(current.metadata, patch.metadata);
    if (!sameMetadata(merged, current.metadata)) changes.metadata = merged;
  }
  return changes;
}

import { randomId } from '../auth/secrets';
import { ProjectsSortOrder, Role, UserStatus } from '../entities/enums';
import type { FieldChange, UserChange } from '../entities/user-change.entity';
import { UserEvent, type UserEventType } from '../entities/user-event.entity';
import type { User } from '../entities/user.entity';

/** Stored enum values in their GraphQL spelling, as a reader of the API sees them. */
const GRAPHQL_NAMES: Record<string, Record<string, string>> = {
  role: Object.fromEntries(Object.entries(Role).map(([name, value]) => [value, name])),
  status: Object.fromEntries(Object.entries(UserStatus).map(([name, value]) => [value, name])),
  projectsSortOrder: Object.fromEntries(
    Object.entries(ProjectsSortOrder).map(([name, value]) => [value, name]),
  ),
};

function spelled(field: string, value: unknown): unknown {
  const names = GRAPHQL_NAMES[field];
  return names && typeof value === 'string' ? (names[value] ?? value) : value;
}

/** The user as a caller with `users:read` reads it over GraphQL (no pending email, no secrets). */
export function readableUser(user: User) {
  return {
    id: user.id,
    numericId: user.numericId,
    uuid: user.uuid,
    organizationId: user.organizationId,
    email: user.email,
    emailVerified: user.emailVerified,
    name: user.name,
    username: user.username,
    firstName: user.firstName,
    lastName: user.lastName,
    role: spelled('role', user.role),
    status: spelled('status', user.status),
    creditsBalance: user.creditsBalance,
    jobTitle: user.jobTitle,
    companyName: user.companyName,
    experiments: user.experiments,
    projectsSortOrder: spelled('projectsSortOrder', user.projectsSortOrder),
    timezone: user.timezone,
    metadata: user.metadata,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
    version: user.version,
  };
}

/** An event as delivered (webhooks) and streamed (subscriptions). */
export interface UserEventPayload {
  id: string;
  type: UserEventType;
  occurredAt: string;
  organizationId: string;
  user: ReturnType<typeof readableUser>;
  changes: Record<string, FieldChange>;
  actor: { userId: string; credentialId: string };
  requestId: string;
}

function typeOf(before: User | null, after: User): UserEventType {
  if (!before) return 'user.created';
  if (before.status === UserStatus.ACTIVE && after.status !== UserStatus.ACTIVE) return 'user.deactivated';
  if (before.status !== UserStatus.ACTIVE && after.status === UserStatus.ACTIVE) return 'user.reactivated';
  return 'user.updated';
}

function eventRow(payload: UserEventPayload): UserEvent {
  return Object.assign(new UserEvent(), {
    id: payload.id,
    type: payload.type,
    organizationId: payload.organizationId,
    userId: payload.user.id,
    userVersion: payload.user.version,
    occurredAt: payload.occurredAt,
    payload: JSON.stringify(payload),
    // The change's statement decides it (UserDataPort); provisioning sets it (createdEvents).
    dispatched: false,
  });
}

/** A history row's changes with enum values in their GraphQL spelling (`MEMBER`, not the stored `member`). */
export function spelledChanges(stored: Record<string, FieldChange>): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  for (const [field, change] of Object.entries(stored)) {
    changes[field] = {
      before: spelled(field, change.before) as FieldChange['before'],
      after: spelled(field, change.after) as FieldChange['after'],
    };
  }
  return changes;
}

/** The event of a change, from its history row (same id after the prefix) and the user after it. */
export function changeEvent(before: User, after: User, history: Omit<UserChange, 'seq'>): UserEvent {
  const changes = spelledChanges(history.changes);
  return eventRow({
    id: `evt_${history.id.slice('chg_'.length)}`,
    type: typeOf(before, after),
    occurredAt: history.createdAt,
    organizationId: after.organizationId,
    user: readableUser(after),
    changes,
    actor: { userId: history.actorUserId, credentialId: history.credentialId },
    requestId: history.requestId,
  });
}

/** The event of a new user: every field it was created with, from nothing. */
export function createdEvent(user: User, actor: UserEventPayload['actor'], requestId: string): UserEvent {
  const readable = readableUser(user);
  const changes: Record<string, FieldChange> = {};
  for (const [field, value] of Object.entries(readable)) {
    if (
      value !== null &&
      !['id', 'numericId', 'uuid', 'organizationId', 'version', 'createdAt', 'updatedAt'].includes(field)
    )
      changes[field] = { before: null, after: value as FieldChange['after'] };
  }
  return eventRow({
    id: randomId('evt_'),
    type: 'user.created',
    occurredAt: user.createdAt,
    organizationId: user.organizationId,
    user: readable,
    changes,
    actor,
    requestId,
  });
}

import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * The event types a change of a user is published as (webhooks, subscriptions). A role change is a
 * `user.updated` whose `changes` hold `role`.
 */
export const USER_EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deactivated',
  'user.reactivated',
] as const;
export type UserEventType = (typeof USER_EVENT_TYPES)[number];

/**
 * One committed change of a user as integrators receive it, written in the change's own transaction
 * (a transactional outbox): a refused or failed change writes none. `payload` is the event's JSON as
 * delivered; the other columns are what deliveries and subscriptions select on.
 */
@Entity({ name: 'user_events' })
// Partial: only the events still to dispatch, a handful, so writing one costs little; queries that use it
// say `"dispatched" = false` in their text (a bound value would not let the planner use it).
@Index('IX_user_events_undispatched', ['seq'], { where: '"dispatched" = false' })
@Index('IX_user_events_user', ['userId', 'userVersion'])
export class UserEvent {
  /** Commit order of one user's events (their versions), and the cursor of replays and subscriptions. */
  @PrimaryGeneratedColumn({ name: 'seq', type: 'integer' })
  seq: number;

  @Index('UQ_user_events_id', { unique: true })
  @Column({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  type: UserEventType;

  @Column({ name: 'organization_id', type: 'varchar', length: 40 })
  organizationId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 40 })
  userId: string;

  /** The user's version after the change. */
  @Column({ name: 'user_version', type: 'integer' })
  userVersion: number;

  @Column({ name: 'occurred_at', type: 'varchar', length: 32 })
  occurredAt: string;

  @Column({ type: 'text' })
  payload: string;

  /** Whether the webhook dispatcher has queued its deliveries. */
  @Column({ type: 'boolean', default: false })
  dispatched: boolean;
}

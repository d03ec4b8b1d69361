import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** A secret a rotation replaced, still signing until `expiresAt`. */
export interface PreviousSecret {
  secret: string;
  expiresAt: string;
}

/** Until when earlier secrets sign too: the end of the last rotation's overlap (null: never rotated). */
export function previousSecretExpiresAt(endpoint: WebhookEndpoint): string | null {
  return endpoint.previousSecrets.at(-1)?.expiresAt ?? null;
}

/** Where an organization's admins asked for its users' events to be sent (Standard Webhooks). */
@Entity({ name: 'webhook_endpoints' })
export class WebhookEndpoint {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Index('IX_webhook_endpoints_organization')
  @Column({ name: 'organization_id', type: 'varchar', length: 40 })
  organizationId: string;

  @Column({ type: 'varchar', length: 2000 })
  url: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  description: string | null;

  /** The event types sent; empty: all of them. */
  @Column({ name: 'event_types', type: 'simple-json' })
  eventTypes: string[];

  /** `whsec_…`: the HMAC key, kept as is (signing needs it), shown to admins once. */
  @Column({ type: 'varchar', length: 100 })
  secret: string;

  /** Earlier secrets that sign alongside `secret` after rotations, oldest first, each until its `expiresAt`. */
  @Column({ name: 'previous_secrets', type: 'simple-json', default: '[]' })
  previousSecrets: PreviousSecret[];

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** Why it was disabled (by an admin, or because every delivery failed for the whole retry schedule). */
  @Column({ name: 'disabled_reason', type: 'varchar', length: 500, nullable: true })
  disabledReason: string | null;

  @Column({ name: 'last_success_at', type: 'varchar', length: 32, nullable: true })
  lastSuccessAt: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt: string;
}

export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

/**
 * One event to send to one endpoint, with its attempts. One user's deliveries to one endpoint form a
 * line: only its oldest pending one (`ready`) is tried, so they arrive in version order.
 */
@Entity({ name: 'webhook_deliveries' })
@Index('IX_webhook_deliveries_ready', ['nextAttemptAt'], { where: `"state" = 'pending' AND "ready" = true` })
@Index('IX_webhook_deliveries_line', ['endpointId', 'userId', 'eventSeq'], { where: `"state" = 'pending'` })
@Index('IX_webhook_deliveries_endpoint', ['endpointId', 'seq'])
export class WebhookDelivery {
  @PrimaryGeneratedColumn({ name: 'seq', type: 'integer' })
  seq: number;

  @Index('UQ_webhook_deliveries_id', { unique: true })
  @Column({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'endpoint_id', type: 'varchar', length: 40 })
  endpointId: string;

  @Column({ name: 'event_seq', type: 'integer' })
  eventSeq: number;

  @Column({ name: 'event_id', type: 'varchar', length: 40 })
  eventId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 40 })
  userId: string;

  @Column({ type: 'varchar', length: 16 })
  state: WebhookDeliveryState;

  /**
   * First of its line (pending, with no older pending delivery of its user to its endpoint): the
   * sender looks only at these, so a long line behind a failing receiver costs a round nothing.
   */
  @Column({ type: 'boolean', default: false })
  ready: boolean;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'varchar', length: 32 })
  nextAttemptAt: string;

  @Column({ name: 'lease_until', type: 'varchar', length: 32, nullable: true })
  leaseUntil: string | null;

  /** The HTTP status of the last attempt, if the receiver answered. */
  @Column({ name: 'last_status', type: 'integer', nullable: true })
  lastStatus: number | null;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'delivered_at', type: 'varchar', length: 32, nullable: true })
  deliveredAt: string | null;
}

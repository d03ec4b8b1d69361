import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** What a message is about; each kind has its own wording (src/services/email-change.ts, src/webhooks). */
export type MailKind =
  'email-change-confirmation' | 'email-change-notice' | 'email-changed-notice' | 'webhook-endpoint-disabled';

/** Where a queued message stands: waiting (to be tried at `nextAttemptAt`), sent, or given up. */
export type MailState = 'pending' | 'sent' | 'failed';

/**
 * A message queued in the transaction of the change it is about (a transactional outbox), so a change
 * that commits always has its mail, and an SMTP outage delays mail, never a change. The sender (src/mail)
 * delivers it with retries. Once sent, its text is erased: a confirmation link's token is stored
 * nowhere else in clear.
 */
@Entity({ name: 'mail_outbox' })
@Index('IX_mail_outbox_due', ['state', 'nextAttemptAt'])
export class MailMessage {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 40 })
  kind: MailKind;

  /** The user the message is about. */
  @Index('IX_mail_outbox_user')
  @Column({ name: 'user_id', type: 'varchar', length: 40 })
  userId: string;

  @Column({ type: 'varchar', length: 254 })
  recipient: string;

  @Column({ type: 'varchar', length: 300 })
  subject: string;

  @Column({ type: 'text', nullable: true })
  text: string | null;

  @Column({ type: 'text', nullable: true })
  html: string | null;

  /** The message's link, for the development log when no SMTP server is configured; erased once sent. */
  @Column({ name: 'action_url', type: 'text', nullable: true })
  actionUrl: string | null;

  @Column({ type: 'varchar', length: 16 })
  state: MailState;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ name: 'next_attempt_at', type: 'varchar', length: 32 })
  nextAttemptAt: string;

  /** A sender holds the message until then; another may take it over after (its process died). */
  @Column({ name: 'lease_until', type: 'varchar', length: 32, nullable: true })
  leaseUntil: string | null;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'sent_at', type: 'varchar', length: 32, nullable: true })
  sentAt: string | null;
}

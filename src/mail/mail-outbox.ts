import { Brackets } from 'typeorm';
import type { Database } from '../db/database';
import { MailMessage } from '../entities/mail-message.entity';

/**
 * The mail outbox as the sender sees it. Changes queue their messages through the data port, in their
 * own transaction; here a sender takes the messages that are due, one at a time, with a lease, so that
 * of several processes on one database only one sends a message, and a message whose sender died is
 * taken over once its lease ends.
 */
export class MailOutbox {
  private listener: () => void = () => undefined;

  constructor(private readonly db: Database) {}

  /** A change that queued mail has committed (the user service says so). */
  queued(): void {
    this.listener();
  }

  onQueued(listener: () => void): void {
    this.listener = listener;
  }

  /** Ids of messages due at `now` and not leased, oldest first. */
  due(now: string, limit: number): Promise<string[]> {
    return this.db.read(async (m) => {
      const rows = await m
        .getRepository(MailMessage)
        .createQueryBuilder('m')
        .select('m.id', 'id')
        .where('m.state = :pending AND m.next_attempt_at <= :now', { pending: 'pending', now })
        .andWhere(
          new Brackets((q) => q.where('m.lease_until IS NULL').orWhere('m.lease_until < :now', { now })),
        )
        .orderBy('m.next_attempt_at', 'ASC')
        .addOrderBy('m.created_at', 'ASC')
        .limit(limit)
        .getRawMany<{ id: string }>();
      return rows.map((row) => row.id);
    });
  }

  /** Takes message `id` until `until`, counting an attempt; null when another sender has it or it is done. */
  lease(id: string, now: string, until: string): Promise<MailMessage | null> {
    return this.db.write(async (m) => {
      const taken = await m
        .createQueryBuilder()
        .update(MailMessage)
        .set({ leaseUntil: until, attempts: () => '"attempts" + 1' })
        .where('id = :id AND state = :pending AND next_attempt_at <= :now', { id, pending: 'pending', now })
        .andWhere(new Brackets((q) => q.where('lease_until IS NULL').orWhere('lease_until < :now', { now })))
        .execute();
      return taken.affected ? m.getRepository(MailMessage).findOneBy({ id }) : null;
    });
  }

  /** Sent: its text (which may hold a link's token) is erased. */
  async sent(id: string, at: string): Promise<void> {
    await this.db.write((m) =>
      m.getRepository(MailMessage).update(
        { id },
        {
          state: 'sent',
          sentAt: at,
          leaseUntil: null,
          lastError: null,
          text: null,
          html: null,
          actionUrl: null,
        },
      ),
    );
  }

  /**
   * Not sent: tried again at `retryAt`, or given up (null; its text is erased too). Only while the lease
   * is still this attempt's (`attempts` as leased): a sender that stalled past its lease must not set
   * back a message another sender took over, and perhaps sent, since.
   */
  async notSent(id: string, attempts: number, error: string, retryAt: string | null): Promise<void> {
    const lastError = error.slice(0, 500);
    await this.db.write((m) =>
      m
        .getRepository(MailMessage)
        .update(
          { id, attempts, state: 'pending' },
          retryAt
            ? { leaseUntil: null, lastError, nextAttemptAt: retryAt }
            : { state: 'failed', leaseUntil: null, lastError, text: null, html: null, actionUrl: null },
        ),
    );
  }
}

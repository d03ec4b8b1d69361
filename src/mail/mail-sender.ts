import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { MailOutbox } from './mail-outbox';
import type { MailTransport } from './mail-transport';
import { OutboxLoop } from '../outbox/outbox-loop';

/** How long a sender holds a message it is sending: past the transport's timeouts. */
const LEASE_MS = 60_000;
/** The longest wait between two attempts. */
const MAX_RETRY_MS = 2 * 60 * 60 * 1000;
/** Messages taken per look. */
const BATCH = 20;

/** The wait before attempt `attempts + 1`: doubling from `baseMs`, at most two hours, with up to 20% jitter. */
export function retryDelay(baseMs: number, attempts: number): number {
  const delay = Math.min(MAX_RETRY_MS, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay * (1 + Math.random() * 0.2));
}

/**
 * Sends what the outbox holds (OutboxLoop: when told a change queued mail, and every `pollIntervalMs`). A message that fails is tried
 * again after retryDelay, and given up after `maxAttempts`.
 */
export class MailSender {
  private readonly loop: OutboxLoop;

  constructor(
    private readonly outbox: MailOutbox,
    private readonly transport: MailTransport,
    private readonly settings: Config['mail'],
    private readonly logger: Logger,
  ) {
    this.loop = new OutboxLoop(() => this.sendDue(), {
      pollIntervalMs: settings.pollIntervalMs,
      minGapMs: 0,
      onError: (error) => logger.warn({ err: error }, 'Mail outbox could not be read'),
    });
  }

  start(): void {
    this.outbox.onQueued(() => this.loop.wake());
    this.loop.start();
  }

  /** Waits for the message being sent, if any, and sends no more. */
  async stop(): Promise<void> {
    this.outbox.onQueued(() => undefined);
    await this.loop.stop();
    this.transport.close();
  }

  private async sendDue(): Promise<void> {
    for (;;) {
      const now = new Date();
      const ids = await this.outbox.due(now.toISOString(), BATCH);
      for (const id of ids) {
        if (this.loop.stopped) return;
        await this.sendOne(id);
      }
      if (ids.length < BATCH) return;
    }
  }

  private async sendOne(id: string): Promise<void> {
    const now = Date.now();
    const message = await this.outbox.lease(
      id,
      new Date(now).toISOString(),
      new Date(now + LEASE_MS).toISOString(),
    );
    if (!message) return;
    try {
      await this.transport.send(message);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const last = message.attempts >= this.settings.maxAttempts;
      const retryAt = last
        ? null
        : new Date(Date.now() + retryDelay(this.settings.retryBaseMs, message.attempts)).toISOString();
      await this.outbox.notSent(id, message.attempts, reason, retryAt);
      this.logger.warn(
        { mailId: id, attempts: message.attempts, retryAt, reason },
        last ? 'Mail given up' : 'Mail not sent; will retry',
      );
      return;
    }
    await this.outbox.sent(id, new Date().toISOString());
  }
}

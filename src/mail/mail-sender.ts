import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { MailOutbox } from './mail-outbox';
import type { MailTransport } from './mail-transport';

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
 * Sends what the outbox holds: when told a change queued mail, and every `pollIntervalMs` (retries
 * that fall due, messages queued by other processes or by the CLI). A message that fails is tried
 * again after retryDelay, and given up after `maxAttempts`.
 */
export class MailSender {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Told again while a look runs: one more look follows it. */
  private again = false;
  private stopped = false;

  constructor(
    private readonly outbox: MailOutbox,
    private readonly transport: MailTransport,
    private readonly settings: Config['mail'],
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.outbox.onQueued(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.settings.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Waits for the message being sent, if any, and sends no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.outbox.onQueued(() => undefined);
    await this.running;
    this.transport.close();
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.sendDue()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'Mail outbox could not be read'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async sendDue(): Promise<void> {
    for (;;) {
      const now = new Date();
      const ids = await this.outbox.due(now.toISOString(), BATCH);
      for (const id of ids) {
        if (this.stopped) return;
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
      await this.outbox.notSent(id, reason, retryAt);
      this.logger.warn(
        { mailId: id, attempts: message.attempts, retryAt, reason },
        last ? 'Mail given up' : 'Mail not sent; will retry',
      );
      return;
    }
    await this.outbox.sent(id, new Date().toISOString());
  }
}

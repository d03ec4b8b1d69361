import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { LeasedDelivery, WebhookOutbox } from './webhook-outbox';
import { sendWebhook } from './webhook-request';

/** Deliveries sent at once (each to a different user and endpoint: the outbox keeps one user's in line). */
const PARALLEL = 16;

/**
 * Sends the events committed changes wrote: when told changes committed, and every `pollIntervalMs`
 * (other processes' and the CLI's events, retries that fall due). Each round turns new events into
 * deliveries, then sends what is due; a failed delivery is tried again after the next wait of
 * `retryScheduleMs`, and given up after the last.
 */
export class WebhookSender {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly outbox: WebhookOutbox,
    private readonly settings: Config['webhooks'] & { httpsOnly: boolean; pollIntervalMs: number },
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.outbox.onWritten(() => this.wake());
    this.timer = setInterval(() => this.wake(), this.settings.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Waits for the deliveries in flight, and sends no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.outbox.onWritten(() => undefined);
    await this.running;
  }

  private wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'Webhook outbox could not be read'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async round(): Promise<void> {
    while (!this.stopped && (await this.outbox.dispatch(new Date().toISOString())) > 0);
    for (;;) {
      if (this.stopped) return;
      const ids = await this.outbox.due(new Date().toISOString(), PARALLEL);
      if (ids.length === 0) return;
      await Promise.all(ids.map((id) => this.deliver(id)));
      // Sending took a while: events committed meanwhile join the line before the next ones are picked.
      while (!this.stopped && (await this.outbox.dispatch(new Date().toISOString())) > 0);
    }
  }

  private async deliver(id: string): Promise<void> {
    const now = Date.now();
    // Past the timeout: a process that died sending it (SIGKILL) holds it this long, then another takes it.
    const leaseUntil = new Date(now + this.settings.timeoutMs + 5_000).toISOString();
    const leased = await this.outbox.lease(id, new Date(now).toISOString(), leaseUntil);
    if (!leased) return;
    const answer = await sendWebhook(
      leased.endpoint.url,
      leased.event,
      this.secretsOf(leased),
      this.settings,
    );
    const at = new Date().toISOString();
    if ('status' in answer && answer.status >= 200 && answer.status < 300) {
      await this.outbox.delivered(leased, answer.status, at);
      return;
    }
    const failure =
      'status' in answer
        ? { status: answer.status, error: `HTTP ${answer.status}` }
        : { status: null, error: answer.error };
    const wait = this.settings.retryScheduleMs[leased.delivery.attempts - 1];
    const retryAt =
      wait === undefined
        ? null
        : new Date(Date.now() + Math.round(wait * (1 + Math.random() * 0.1))).toISOString();
    const disabled = await this.outbox.notDelivered(leased, failure, retryAt, at);
    this.logger.warn(
      {
        deliveryId: id,
        endpointId: leased.endpoint.id,
        attempts: leased.delivery.attempts,
        retryAt,
        reason: failure.error,
      },
      retryAt ? 'Webhook not delivered; will retry' : 'Webhook delivery given up',
    );
    if (disabled)
      this.logger.warn(
        { endpointId: leased.endpoint.id },
        'Webhook endpoint disabled: every delivery failed',
      );
  }

  /** The secret, and the previous one while a rotation's overlap lasts. */
  private secretsOf({ endpoint }: LeasedDelivery): string[] {
    const previous =
      endpoint.previousSecret &&
      endpoint.previousSecretExpiresAt &&
      endpoint.previousSecretExpiresAt > new Date().toISOString()
        ? [endpoint.previousSecret]
        : [];
    return [endpoint.secret, ...previous];
  }
}

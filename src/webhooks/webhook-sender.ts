import type { Config } from '../config';
import type { Logger } from '../observability/logger';
import type { DeliveryOutcome, LeasedDelivery, WebhookOutbox } from './webhook-outbox';
import type { DeliveryAnswer, WebhookRequest } from './webhook-request';
import { SOCKETS_PER_RECEIVER } from './webhook-target';
import { ThreadCalls } from '../worker-thread';
import { OutboxLoop } from '../outbox/outbox-loop';

/**
 * Commits wake the sender at most this often: under a stream of writes one round then takes what a
 * fifth of a second brought, in one set, instead of a set after every commit.
 */
const MIN_ROUND_GAP_MS = 200;

/** Deliveries a round sends at once, at most (a line sends one at a time: different lines). */
const PARALLEL = 256;

/** The longest a receiver's Retry-After postpones a retry, unless the schedule waits longer. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** A round's requests to one receiver go out in this many waves when they are PARALLEL (see SOCKETS_PER_RECEIVER). */
const WAVES = Math.ceil(PARALLEL / SOCKETS_PER_RECEIVER);

/** The waves the requests of `deliveries` take: SOCKETS_PER_RECEIVER at a time to each receiver (origin). */
function wavesOf(deliveries: LeasedDelivery[]): number {
  const perReceiver = new Map<string, number>();
  for (const { endpoint } of deliveries) {
    const origin = new URL(endpoint.url).origin;
    perReceiver.set(origin, (perReceiver.get(origin) ?? 0) + 1);
  }
  return Math.max(0, ...[...perReceiver.values()].map((count) => Math.ceil(count / SOCKETS_PER_RECEIVER)));
}

/**
 * Sends the events committed changes wrote: when told changes committed, and every `pollIntervalMs`
 * (other processes' and the CLI's events, retries that fall due). Each round turns new events into
 * deliveries, then sends what is due; a failed delivery is tried again after the next wait of
 * `retryScheduleMs`, and given up after the last.
 */
export class WebhookSender {
  private readonly loop: OutboxLoop;
  /** The requests go out from a thread of their own (webhook-request.worker.ts). */
  private readonly requests: ThreadCalls<WebhookRequest, DeliveryAnswer>;

  constructor(
    private readonly outbox: WebhookOutbox,
    private readonly settings: Config['webhooks'] & { httpsOnly: boolean; pollIntervalMs: number },
    private readonly logger: Logger,
  ) {
    this.requests = new ThreadCalls<WebhookRequest, DeliveryAnswer>({
      dir: __dirname,
      name: 'webhook-request.worker',
      label: 'webhook request',
      workerData: {
        allowPrivate: settings.allowPrivate,
        httpsOnly: settings.httpsOnly,
        timeoutMs: settings.timeoutMs,
      },
      // Its requests' outcomes are unknown: each counts as a failed attempt, tried again on schedule.
      failed: (error) => ({ error }),
    });
    this.loop = new OutboxLoop(() => this.round(), {
      pollIntervalMs: settings.pollIntervalMs,
      minGapMs: MIN_ROUND_GAP_MS,
      onError: (error) => logger.warn({ err: error }, 'Webhook outbox could not be read'),
    });
  }

  start(): void {
    this.outbox.onWritten(() => this.loop.wake());
    this.loop.start();
  }

  /** Waits for the deliveries in flight, and sends no more. */
  async stop(): Promise<void> {
    this.outbox.onWritten(() => undefined);
    await this.loop.stop();
    await this.requests.close();
  }

  private async round(): Promise<void> {
    while (!this.loop.stopped) {
      const now = Date.now();
      // Past the time a round's requests to one receiver can take: a process that died sending them
      // (SIGKILL) holds them this long, then another takes them.
      const leaseFor = (waves: number) =>
        new Date(now + waves * this.settings.timeoutMs + 5_000).toISOString();
      const leaseUntil = leaseFor(WAVES);
      const at = new Date(now).toISOString();
      // New events (those first of their line come leased), then retries and lines that moved on.
      const fresh = await this.outbox.dispatch(at, leaseUntil);
      const room = PARALLEL - fresh.length;
      const due = room > 0 ? await this.outbox.lease(at, leaseUntil, room) : [];
      if (fresh.length + due.length === 0) return;
      const leased = await this.outbox.withContent([...fresh, ...due]);
      // New events to several endpoints of one receiver can make more waves than PARALLEL requests do:
      // their leases must last until the last wave is answered, or another process sends them again.
      const waves = wavesOf(leased);
      if (waves > WAVES) await this.outbox.extendLeases(leased, leaseFor(waves));
      await this.deliver(leased);
      // Lines move on one delivery at a time: while they do, go on at once. New events alone wait for
      // the next wake, so that under a stream of writes they are sent in sets, not one by one.
      if (due.length === 0 && fresh.length < PARALLEL) return;
    }
  }

  /** Sends the leased deliveries at once, and records their outcomes together. */
  private async deliver(leased: LeasedDelivery[]): Promise<void> {
    const outcomes = await Promise.all(leased.map((one) => this.send(one)));
    const disabled = await this.outbox.settle(outcomes, new Date().toISOString());
    for (const outcome of outcomes) {
      if (outcome.error === null) continue;
      this.logger.warn(
        {
          deliveryId: outcome.leased.delivery.id,
          endpointId: outcome.leased.endpoint.id,
          attempts: outcome.leased.delivery.attempts,
          retryAt: outcome.retryAt,
          reason: outcome.error,
        },
        outcome.retryAt ? 'Webhook not delivered; will retry' : 'Webhook delivery given up',
      );
    }
    for (const { endpointId, reason } of disabled)
      this.logger.warn({ endpointId, reason }, 'Webhook endpoint disabled');
  }

  private async send(leased: LeasedDelivery): Promise<DeliveryOutcome> {
    const answer = await this.requests.call({
      url: leased.endpoint.url,
      event: leased.event,
      secrets: this.secretsOf(leased),
    });
    if ('status' in answer && answer.status >= 200 && answer.status < 300)
      return { leased, status: answer.status, error: null, retryAt: null };
    // 410 Gone: the receiver wants no more (Standard Webhooks: disable the endpoint, stop sending).
    if ('status' in answer && answer.status === 410)
      return { leased, status: 410, error: 'HTTP 410 Gone', retryAt: null, disableEndpoint: true };
    const schedule = this.settings.retryScheduleMs;
    let wait = schedule[leased.delivery.attempts - 1];
    // A receiver's Retry-After postpones the retry, by an hour (or the schedule's longest wait) at most.
    const asked = 'status' in answer ? answer.retryAfterSeconds : undefined;
    if (wait !== undefined && asked !== undefined)
      wait = Math.max(wait, Math.min(asked * 1000, Math.max(MAX_RETRY_AFTER_MS, ...schedule)));
    const retryAt =
      wait === undefined
        ? null
        : new Date(Date.now() + Math.round(wait * (1 + Math.random() * 0.1))).toISOString();
    return 'status' in answer
      ? { leased, status: answer.status, error: `HTTP ${answer.status}`, retryAt }
      : { leased, status: null, error: answer.error, retryAt };
  }

  /** The secret, and the earlier ones while their rotations' overlap lasts, newest first. */
  private secretsOf({ endpoint }: LeasedDelivery): string[] {
    const now = new Date().toISOString();
    const previous = endpoint.previousSecrets.filter((earlier) => earlier.expiresAt > now);
    return [endpoint.secret, ...previous.reverse().map((earlier) => earlier.secret)];
  }
}

import { In } from 'typeorm';
import type { Database } from '../db/database';
import type { LeasedDeliveryRow } from '../db/port';
import { Role, UserStatus } from '../entities/enums';
import { MailMessage } from '../entities/mail-message.entity';
import { UserEvent } from '../entities/user-event.entity';
import { User } from '../entities/user.entity';
import { WebhookDelivery, WebhookEndpoint } from '../entities/webhook.entity';
import { composeMessage } from '../mail/compose';

/**
 * Events turned into deliveries per statement at most: about what a round sends at once, so that the
 * requests of one round, all answered within the timeout, stay inside their leases.
 */
const DISPATCH_BATCH = 256;

/** The mail telling an admin that an endpoint of their organization was disabled, and why. */
function disabledNotice(admin: User, endpoint: WebhookEndpoint, reason: string, at: string): MailMessage {
  return composeMessage(
    'webhook-endpoint-disabled',
    admin,
    admin.email,
    'A webhook endpoint of your organization was disabled',
    [
      `Hello ${admin.name},`,
      `The webhook endpoint ${endpoint.id} (${endpoint.url}) of your organization was disabled: ${reason}.`,
      'Once it is enabled again (updateWebhookEndpoint with enabled: true), the deliveries queued ' +
        'before it was disabled resume, in order; the changes made meanwhile can be sent to it with ' +
        'replayWebhookEvents.',
    ],
    null,
    at,
  );
}

/** A delivery leased for sending, with what sending it needs. */
export interface LeasedDelivery {
  delivery: LeasedDeliveryRow;
  endpoint: WebhookEndpoint;
  event: { id: string; payload: string };
}

/** What became of a leased delivery: delivered (`error` null), or why not and when it is tried again. */
export interface DeliveryOutcome {
  leased: LeasedDelivery;
  status: number | null;
  error: string | null;
  retryAt: string | null;
  /** The receiver asked for no more deliveries (410 Gone): its endpoint is disabled. */
  disableEndpoint?: boolean;
}

/** `text` cut to at most `max` characters (code points, as the database counts them), marked when cut. */
function shortened(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}

/**
 * The webhook side of the event outbox, in the database every process shares: events become
 * deliveries (dispatch, each event once, whichever process takes it), queued in lines (one user's to
 * one endpoint) of which only the first is sent at a time; the data port's delivery queue holds the
 * SQL of the frequent steps, TypeORM the rest.
 */
export class WebhookOutbox {
  private listener: () => void = () => undefined;

  constructor(private readonly db: Database) {}

  /** Changes have committed (their events with them). */
  written(): void {
    this.listener();
  }

  onWritten(listener: () => void): void {
    this.listener = listener;
  }

  /**
   * Queues a delivery of each undispatched event (the oldest first, a set at a time) to each enabled
   * endpoint of its organization that takes its type, and marks the events dispatched; those first of
   * their line come back leased until `until`.
   */
  async dispatch(now: string, until: string): Promise<LeasedDeliveryRow[]> {
    // A read first: most looks find nothing, and need no write.
    const waiting = await this.db.read((m) =>
      m.getRepository(UserEvent).createQueryBuilder('e').where('e.dispatched = false').getExists(),
    );
    if (!waiting) return [];
    return this.db.users.dispatchEvents(now, DISPATCH_BATCH, until);
  }

  /** Queues the organization's events since `since` for `endpoint` again, oldest first. How many. */
  replay(endpoint: WebhookEndpoint, since: string, now: string): Promise<number> {
    return this.db.users.replayEvents(endpoint.id, since, now);
  }

  /**
   * Leases until `until` up to `limit` deliveries that may be sent now (due, first of their line, their
   * endpoint enabled), counting an attempt.
   */
  async lease(now: string, until: string, limit: number): Promise<LeasedDeliveryRow[]> {
    // A read first: an idle server's rounds find nothing due, and need no write. ('pending' and true are
    // written into the text, as the queue's statements do, so that the partial index on ready ones applies.)
    const due = await this.db.read((m) =>
      m
        .getRepository(WebhookDelivery)
        .createQueryBuilder('d')
        .where(`d.state = 'pending' AND d.ready = true AND d.nextAttemptAt <= :now`, { now })
        .getExists(),
    );
    if (!due) return [];
    return this.db.users.leaseDeliveries(now, until, limit);
  }

  /** Holds the leases of `deliveries` until `until`. */
  extendLeases(deliveries: LeasedDelivery[], until: string): Promise<void> {
    return this.db.users.extendLeases(
      deliveries.map((leased) => leased.delivery.id),
      until,
    );
  }

  /** Leased deliveries with their endpoints and events, read together. */
  async withContent(deliveries: LeasedDeliveryRow[]): Promise<LeasedDelivery[]> {
    if (deliveries.length === 0) return [];
    const [endpoints, events] = await this.db.read((m) =>
      Promise.all([
        m
          .getRepository(WebhookEndpoint)
          .findBy({ id: In([...new Set(deliveries.map((d) => d.endpointId))]) }),
        m.getRepository(UserEvent).find({
          where: { seq: In(deliveries.map((d) => d.eventSeq)) },
          select: { seq: true, id: true, payload: true },
        }),
      ]),
    );
    const endpointById = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint]));
    const eventBySeq = new Map(events.map((event) => [event.seq, event]));
    return deliveries.flatMap((delivery) => {
      const endpoint = endpointById.get(delivery.endpointId);
      const event = eventBySeq.get(delivery.eventSeq);
      // An endpoint deleted meanwhile took its deliveries with it.
      return endpoint && event ? [{ delivery, endpoint, event }] : [];
    });
  }

  /**
   * The outcomes of a round of deliveries: delivered; or not, to be tried again at `retryAt`, or (null)
   * given up. An endpoint that has delivered nothing since a given-up delivery was queued, through its
   * whole schedule, is disabled, saying why; so is one whose receiver answered 410 Gone. The endpoints
   * disabled, and why.
   */
  async settle(outcomes: DeliveryOutcome[], at: string): Promise<{ endpointId: string; reason: string }[]> {
    // Endpoints are disabled before the deliveries are settled: a process that dies in between leaves
    // the given-up delivery leased to a disabled endpoint, which leases nothing, rather than a failed
    // delivery whose endpoint no one will ever disable.
    const givenUp = outcomes.filter((outcome) => outcome.error !== null && outcome.retryAt === null);
    const delivered = new Set(outcomes.flatMap((o) => (o.error === null ? [o.leased.endpoint.id] : [])));
    const disabled = givenUp.length > 0 ? await this.disableFor(givenUp, delivered, at) : [];
    await this.db.users.settleDeliveries(
      outcomes.map(({ leased, status, error, retryAt }) => ({
        id: leased.delivery.id,
        attempts: leased.delivery.attempts,
        endpointId: leased.endpoint.id,
        userId: leased.delivery.userId,
        state: error === null ? 'delivered' : retryAt ? 'pending' : 'failed',
        status,
        error: error?.slice(0, 500) ?? null,
        nextAttemptAt: retryAt,
      })),
      at,
    );
    return disabled;
  }

  /**
   * Disables the endpoints the given-up deliveries call for, with a notice to their admins; `delivered`:
   * the endpoints that took a delivery in the same round (not yet recorded as their last success).
   */
  private disableFor(
    givenUp: DeliveryOutcome[],
    delivered: ReadonlySet<string>,
    at: string,
  ): Promise<{ endpointId: string; reason: string }[]> {
    return this.db.write(async (m) => {
      const disabled: { endpointId: string; reason: string }[] = [];
      for (const { leased, error, disableEndpoint } of givenUp) {
        const { delivery, endpoint } = leased;
        const current = await m.getRepository(WebhookEndpoint).findOneBy({ id: endpoint.id });
        if (!current?.enabled) continue;
        const failedThroughout =
          !delivered.has(endpoint.id) &&
          (current.lastSuccessAt === null || current.lastSuccessAt < delivery.createdAt);
        if (!disableEndpoint && !failedThroughout) continue;
        const reason = disableEndpoint
          ? `The receiver answered 410 Gone at ${at}: it asked for no more deliveries; ` +
            'enable the endpoint again to resume them'
          : `Every delivery failed from ${delivery.createdAt} to ${at} (last: ${shortened(error ?? '', 200)}); ` +
            'fix the receiver, then enable the endpoint again';
        await m
          .getRepository(WebhookEndpoint)
          .update({ id: endpoint.id }, { enabled: false, updatedAt: at, disabledReason: reason });
        // The organization's admins hear of it by mail, queued with the change (Standard Webhooks asks
        // senders to tell consumers through another channel).
        const admins = await m.getRepository(User).findBy({
          organizationId: current.organizationId,
          role: Role.ADMIN,
          status: UserStatus.ACTIVE,
        });
        if (admins.length > 0)
          await m
            .getRepository(MailMessage)
            .insert(admins.map((admin) => disabledNotice(admin, current, reason, at)));
        disabled.push({ endpointId: endpoint.id, reason });
      }
      return disabled;
    });
  }
}

import { Brackets, type EntityManager, In } from 'typeorm';
import { randomId } from '../auth/secrets';
import type { Database } from '../db/database';
import { UserEvent } from '../entities/user-event.entity';
import { WebhookDelivery, WebhookEndpoint } from '../entities/webhook.entity';

/** Events turned into deliveries per round at most. */
const DISPATCH_BATCH = 500;

/** A delivery leased for sending, with what sending it needs. */
export interface LeasedDelivery {
  delivery: WebhookDelivery;
  endpoint: WebhookEndpoint;
  event: { id: string; payload: string };
}

/** What became of a leased delivery: delivered (`error` null), or why not and when it is tried again. */
export interface DeliveryOutcome {
  leased: LeasedDelivery;
  status: number | null;
  error: string | null;
  retryAt: string | null;
}

/**
 * The webhook side of the event outbox, in the database every process shares: events become
 * deliveries (dispatch, each event once, whichever process takes it), and deliveries are leased one
 * at a time to the process that sends them, oldest first per user and endpoint.
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
   * Queues a delivery of each undispatched event to each enabled endpoint of its organization that
   * takes its type, and marks the events dispatched, in one transaction. On PostgreSQL the events are
   * locked (SKIP LOCKED), so processes dispatching at once take different events. How many it took.
   */
  async dispatch(now: string): Promise<number> {
    // A read first: most looks find nothing, and need no write transaction (on SQLite, the write lock).
    const waiting = await this.db.read((m) =>
      m.getRepository(UserEvent).createQueryBuilder('e').where('e.dispatched = false').getExists(),
    );
    if (!waiting) return 0;
    return this.db.write(async (m) => {
      const query = m
        .getRepository(UserEvent)
        .createQueryBuilder('e')
        .select(['e.seq', 'e.id', 'e.type', 'e.organizationId', 'e.userId'])
        .where('e.dispatched = false')
        .orderBy('e.seq', 'ASC')
        .limit(DISPATCH_BATCH);
      if (!this.db.serialised) query.setLock('pessimistic_write').setOnLocked('skip_locked');
      const events = await query.getMany();
      if (events.length === 0) return 0;
      const organizations = [...new Set(events.map((event) => event.organizationId))];
      const endpoints = await m
        .getRepository(WebhookEndpoint)
        .findBy({ organizationId: In(organizations), enabled: true });
      const deliveries: WebhookDelivery[] = [];
      for (const event of events) {
        for (const endpoint of endpoints) {
          if (endpoint.organizationId !== event.organizationId) continue;
          if (endpoint.eventTypes.length > 0 && !endpoint.eventTypes.includes(event.type)) continue;
          deliveries.push(newDelivery(endpoint.id, event, now));
        }
      }
      await insertDeliveries(m, deliveries);
      await m
        .createQueryBuilder()
        .update(UserEvent)
        .set({ dispatched: true })
        .where({ seq: In(events.map((event) => event.seq)) })
        .execute();
      return events.length;
    });
  }

  /** Queues the organization's events since `since` for `endpointId` again, oldest first. How many. */
  replay(endpoint: WebhookEndpoint, since: string, now: string): Promise<number> {
    return this.db.write(async (m) => {
      const events = await m
        .getRepository(UserEvent)
        .createQueryBuilder('e')
        .select(['e.seq', 'e.id', 'e.type', 'e.userId'])
        .where('e.organization_id = :organizationId AND e.occurred_at >= :since', {
          organizationId: endpoint.organizationId,
          since,
        })
        .orderBy('e.seq', 'ASC')
        .getMany();
      const deliveries = events
        .filter((event) => endpoint.eventTypes.length === 0 || endpoint.eventTypes.includes(event.type))
        .map((event) => newDelivery(endpoint.id, event, now));
      await insertDeliveries(m, deliveries);
      return deliveries.length;
    });
  }

  /**
   * Deliveries that may be sent now: due, not leased, their endpoint enabled, and the first still to
   * go of their user to their endpoint, with every earlier event of their user dispatched (so none can
   * still join the line ahead of them).
   */
  due(now: string, limit: number): Promise<string[]> {
    return this.db.read(async (m) => {
      const rows = await m
        .getRepository(WebhookDelivery)
        .createQueryBuilder('d')
        .select('d.id', 'id')
        .innerJoin(WebhookEndpoint, 'w', 'w.id = d.endpoint_id AND w.enabled = :enabled', { enabled: true })
        .where('d.state = :pending AND d.next_attempt_at <= :now', { pending: 'pending', now })
        .andWhere(
          new Brackets((q) => q.where('d.lease_until IS NULL').orWhere('d.lease_until < :now', { now })),
        )
        .andWhere(
          'NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p WHERE p.endpoint_id = d.endpoint_id ' +
            'AND p.user_id = d.user_id AND p.state = :pending AND p.event_seq < d.event_seq)',
        )
        .andWhere(
          'NOT EXISTS (SELECT 1 FROM "user_events" e WHERE e.dispatched = false ' +
            'AND e.seq < d.event_seq AND e.user_id = d.user_id)',
        )
        .orderBy('d.event_seq', 'ASC')
        .limit(limit)
        .getRawMany<{ id: string }>();
      return rows.map((row) => row.id);
    });
  }

  /**
   * Takes the deliveries until `until`, counting an attempt (one statement), and reads back, with their
   * endpoints and events, those this round got: another sender may hold some, or have finished them.
   */
  lease(ids: string[], now: string, until: string): Promise<LeasedDelivery[]> {
    const owner = randomId('lease_');
    return this.db.write(async (m) => {
      await m
        .createQueryBuilder()
        .update(WebhookDelivery)
        .set({ leaseUntil: until, leaseOwner: owner, attempts: () => '"attempts" + 1' })
        .where({ id: In(ids), state: 'pending' })
        .andWhere(new Brackets((q) => q.where('lease_until IS NULL').orWhere('lease_until < :now', { now })))
        .execute();
      const deliveries = await m.getRepository(WebhookDelivery).findBy({ id: In(ids), leaseOwner: owner });
      if (deliveries.length === 0) return [];
      const endpoints = new Map(
        (
          await m
            .getRepository(WebhookEndpoint)
            .findBy({ id: In([...new Set(deliveries.map((d) => d.endpointId))]) })
        ).map((endpoint) => [endpoint.id, endpoint]),
      );
      const events = new Map(
        (
          await m.getRepository(UserEvent).find({
            where: { seq: In(deliveries.map((d) => d.eventSeq)) },
            select: { seq: true, id: true, payload: true },
          })
        ).map((event) => [event.seq, event]),
      );
      return deliveries.flatMap((delivery) => {
        const endpoint = endpoints.get(delivery.endpointId);
        const event = events.get(delivery.eventSeq);
        return endpoint && event ? [{ delivery, endpoint, event }] : [];
      });
    });
  }

  /**
   * The outcomes of a round of deliveries, in one transaction: delivered (one statement per answer
   * status); or not, to be tried again at `retryAt`, or (null) given up. An endpoint that has
   * delivered nothing since a given-up delivery was queued, through its whole schedule, is disabled,
   * saying why. The endpoints disabled.
   */
  settle(outcomes: DeliveryOutcome[], at: string): Promise<string[]> {
    return this.db.write(async (m) => {
      const delivered = outcomes.filter((outcome) => outcome.error === null);
      for (const status of new Set(delivered.map((outcome) => outcome.status))) {
        const ids = delivered.filter((outcome) => outcome.status === status).map((o) => o.leased.delivery.id);
        await m
          .createQueryBuilder()
          .update(WebhookDelivery)
          .set({
            state: 'delivered',
            deliveredAt: at,
            lastStatus: status,
            lastError: null,
            leaseUntil: null,
            leaseOwner: null,
          })
          .where({ id: In(ids) })
          .execute();
      }
      const succeeded = [...new Set(delivered.map((outcome) => outcome.leased.endpoint.id))];
      if (succeeded.length > 0)
        await m.getRepository(WebhookEndpoint).update({ id: In(succeeded) }, { lastSuccessAt: at });
      const disabled: string[] = [];
      for (const { leased, status, error, retryAt } of outcomes) {
        if (error === null) continue;
        const { delivery, endpoint } = leased;
        const lastError = error.slice(0, 500);
        await m
          .getRepository(WebhookDelivery)
          .update(
            { id: delivery.id },
            retryAt
              ? { lastStatus: status, lastError, nextAttemptAt: retryAt, leaseUntil: null, leaseOwner: null }
              : { state: 'failed', lastStatus: status, lastError, leaseUntil: null, leaseOwner: null },
          );
        if (retryAt) continue;
        const current = await m.getRepository(WebhookEndpoint).findOneBy({ id: endpoint.id });
        if (
          !current?.enabled ||
          (current.lastSuccessAt !== null && current.lastSuccessAt >= delivery.createdAt)
        )
          continue;
        await m.getRepository(WebhookEndpoint).update(
          { id: endpoint.id },
          {
            enabled: false,
            updatedAt: at,
            disabledReason:
              `Every delivery failed from ${delivery.createdAt} to ${at} (last: ${error}); ` +
              'fix the receiver, then enable the endpoint again',
          },
        );
        disabled.push(endpoint.id);
      }
      return disabled;
    });
  }
}

/** In statements of a hundred rows (TypeORM's work on one statement grows faster than its rows). */
async function insertDeliveries(m: EntityManager, deliveries: WebhookDelivery[]): Promise<void> {
  for (let start = 0; start < deliveries.length; start += 100) {
    const rows = deliveries.slice(start, start + 100);
    await m.createQueryBuilder().insert().into(WebhookDelivery).values(rows).updateEntity(false).execute();
  }
}

function newDelivery(
  endpointId: string,
  event: Pick<UserEvent, 'seq' | 'id' | 'userId'>,
  now: string,
): WebhookDelivery {
  return Object.assign(new WebhookDelivery(), {
    id: randomId('whd_'),
    endpointId,
    eventSeq: event.seq,
    eventId: event.id,
    userId: event.userId,
    state: 'pending' as const,
    attempts: 0,
    nextAttemptAt: now,
    leaseUntil: null,
    leaseOwner: null,
    lastStatus: null,
    lastError: null,
    createdAt: now,
    deliveredAt: null,
  });
}

import { Repeater } from '@graphql-yoga/subscription';
import type { PubSub } from 'type-graphql';
import type { Database } from '../db/database';
import { UserEvent } from '../entities/user-event.entity';
import { RateLimitedError } from '../errors/app-error';
import { encodeCursor } from './pagination';

/**
 * An event as the feed passes it on: its row (the payload is the event's JSON), and the number to
 * resume the organization's events after (`resumeSeq`): its own, or just below the oldest number that
 * may still commit (on PostgreSQL numbers are taken before commit), so that resuming misses no event
 * that commits later. Resuming may then repeat some; their ids tell them apart.
 */
export type FeedEvent = Pick<
  UserEvent,
  'seq' | 'id' | 'organizationId' | 'userId' | 'userVersion' | 'payload'
> & {
  resumeSeq?: number;
};

/** Which events a subscriber wants (always of one organization), and from where it resumes. */
export type FeedFilter =
  | { organizationId: string; userId: string; afterVersion: number | null }
  | { organizationId: string; afterSeq: number | null };

/** The error that ends a subscription whose subscriber fell too far behind the events. */
function behind(filter: FeedFilter, last: FeedEvent | null): RateLimitedError {
  const resume =
    last === null
      ? 'subscribe again'
      : 'userId' in filter
        ? `subscribe again with after: ${last.userVersion}`
        : `subscribe again with after: "${encodeCursor('event', last.resumeSeq ?? last.seq)}"`;
  return new RateLimitedError(
    `The subscriber fell too far behind the events (a thousand waiting); ${resume} to get the rest`,
    { 'Retry-After': '0' },
  );
}

/**
 * How long a sequence number not seen yet, though a later one was, is looked for: on PostgreSQL its
 * transaction may still commit (numbers are taken before commit); a rolled-back one never will.
 */
const GAP_WAIT_MS = 60_000;
/** The numbers below the latest a reader starting afresh looks back over for ones not committed yet. */
const LOOK_BACK = 1000;
const PAGE = 500;

interface Listener {
  filter: FeedFilter;
  /** The events it gets: committed after it subscribed (a higher number, or one missing then). */
  after: number;
  missing: Set<number>;
  push(event: FeedEvent): void;
}

function wanted(filter: FeedFilter, event: FeedEvent): boolean {
  return (
    event.organizationId === filter.organizationId &&
    (!('userId' in filter) || event.userId === filter.userId)
  );
}

/**
 * Committed events as they come, for subscriptions: one reader per process follows the event table
 * (told when a change of this process commits, and every `pollIntervalMs` for other processes'), and
 * hands each new event to the subscribers that want it. A sequence number skipped by a later one is
 * looked for again for a while: on PostgreSQL numbers are taken before commit, so an earlier
 * transaction can commit after a later one.
 */
export class UserEventFeed implements PubSub {
  private readonly listeners = new Set<Listener>();
  private cursor: number | null = null;
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly db: Database,
    private readonly pollIntervalMs: number,
  ) {}

  /** Changes have committed in this process. */
  written(): void {
    if (this.listeners.size > 0) this.read();
  }

  /** type-graphql's publishing side: the events are published by their commit; this reads them now. */
  publish(): void {
    this.written();
  }

  /**
   * The events `filter` wants (type-graphql passes it as the subscription's topic id): first those
   * after its resume point, from the table, then the new ones as they commit, each once, in order per user.
   */
  subscribe(_topic: string, filter: FeedFilter): AsyncIterable<FeedEvent> {
    return new Repeater<FeedEvent>(async (push, stop) => {
      const buffered: FeedEvent[] = [];
      let live = false;
      // What the history and the buffer passed on: the live events that follow are new but for these.
      const seen = new Set<number>();
      let last: FeedEvent | null = null;
      let stopped = false;
      const deliver = (event: FeedEvent) => {
        if (seen.has(event.seq)) return undefined;
        if (!live) seen.add(event.seq);
        last = event;
        return push(event);
      };
      const listener: Listener = {
        filter,
        after: 0,
        missing: new Set(),
        push: (event) => {
          if (!live) return void buffered.push(event);
          if (stopped) return;
          try {
            void deliver(event);
          } catch {
            // Too far behind (the repeater holds no more): this subscription ends, saying where to resume.
            stopped = true;
            void stop(behind(filter, last));
          }
        },
      };
      await this.listen(listener);
      try {
        // Page by page, each event passed on once the subscriber has taken the one before.
        for await (const event of this.history(filter)) await deliver(event);
        for (const event of buffered) void deliver(event);
        buffered.length = 0;
        live = true;
        await stop;
      } finally {
        this.listeners.delete(listener);
        if (this.listeners.size === 0 && this.timer) {
          clearInterval(this.timer);
          this.timer = null;
        }
      }
    });
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  private async listen(listener: Listener): Promise<void> {
    // Alone, the reader starts from now; otherwise it is already following, from where it is. Numbers
    // below the latest that are missing may belong to transactions still running: they are gaps.
    if (this.listeners.size === 0) {
      const row = await this.db.read((m) =>
        m
          .getRepository(UserEvent)
          .createQueryBuilder('e')
          .select('MAX(e.seq)', 'seq')
          .getRawOne<{ seq: number | null }>(),
      );
      const latest = Number(row?.seq ?? 0);
      const recent = await this.db.read((m) =>
        m
          .getRepository(UserEvent)
          .createQueryBuilder('e')
          .select('e.seq', 'seq')
          .where('e.seq > :from', { from: latest - LOOK_BACK })
          .getRawMany<{ seq: number }>(),
      );
      // Another subscriber may have started the reader meanwhile: it follows from where it is.
      if (this.listeners.size === 0) {
        this.cursor = latest;
        this.gaps.clear();
        const present = new Set(recent.map((r) => Number(r.seq)));
        const now = Date.now();
        for (let seq = Math.max(1, latest - LOOK_BACK + 1); seq < latest; seq++)
          if (!present.has(seq)) this.gaps.set(seq, now);
      }
    }
    // From where the reader is, not from the latest number: the ones between that are not committed
    // yet become gaps only when the reader gets past them, and must reach this listener when they commit.
    listener.after = this.cursor ?? 0;
    listener.missing = new Set(this.gaps.keys());
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => this.read(), this.pollIntervalMs);
      this.timer.unref();
    }
  }

  /** The events after the filter's resume point, oldest first, read a page at a time (none without one). */
  private async *history(filter: FeedFilter): AsyncGenerator<FeedEvent> {
    const byUser = 'userId' in filter;
    let after = byUser ? filter.afterVersion : filter.afterSeq;
    while (after !== null) {
      const from = after;
      const page = await this.db.read((m) => {
        const query = m.getRepository(UserEvent).createQueryBuilder('e');
        if (byUser)
          query
            .where('e.organization_id = :organizationId AND e.user_id = :userId AND e.user_version > :from', {
              organizationId: filter.organizationId,
              userId: filter.userId,
              from,
            })
            .orderBy('e.user_version', 'ASC');
        else
          query
            .where('e.organization_id = :organizationId AND e.seq > :from', {
              organizationId: filter.organizationId,
              from,
            })
            .orderBy('e.seq', 'ASC');
        return query.limit(PAGE).getMany();
      });
      for (const event of page) yield this.withResume(event);
      after =
        page.length < PAGE ? null : byUser ? page[page.length - 1].userVersion : page[page.length - 1].seq;
    }
  }

  private read(): void {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.readNew()
      .catch(() => undefined)
      .finally(() => {
        this.reading = null;
        if (this.again) {
          this.again = false;
          this.read();
        }
      });
  }

  private async readNew(): Promise<void> {
    if (this.cursor === null) return;
    const now = Date.now();
    for (const [seq, since] of this.gaps) if (now - since > GAP_WAIT_MS) this.gaps.delete(seq);
    const cursor = this.cursor;
    // At most LOOK_BACK at a time, so that the statement's values stay within every driver's limit.
    const gaps = [...this.gaps.keys()].slice(0, LOOK_BACK);
    // The gaps that have committed since, looked up by number, and a page of the numbers after the
    // cursor: a page read from the oldest gap would hold the same rows until the gap expired.
    const [found, rows] = await this.db.read((m) => {
      const events = () => m.getRepository(UserEvent).createQueryBuilder('e');
      return Promise.all([
        gaps.length > 0
          ? events().where('e.seq IN (:...gaps)', { gaps }).orderBy('e.seq', 'ASC').getMany()
          : Promise.resolve([]),
        events().where('e.seq > :cursor', { cursor }).orderBy('e.seq', 'ASC').limit(PAGE).getMany(),
      ]);
    });
    for (const row of found) if (this.gaps.delete(row.seq)) this.hand(row);
    for (const row of rows) {
      if (row.seq <= this.cursor) continue;
      for (let missing = this.cursor + 1; missing < row.seq; missing++) this.gaps.set(missing, now);
      this.cursor = row.seq;
      this.hand(row);
    }
    if (rows.length === PAGE) this.again = true;
  }

  /** `event` with where to resume after it: below the oldest number before it that may still commit. */
  private withResume(event: FeedEvent): FeedEvent {
    let resumeSeq = event.seq;
    for (const gap of this.gaps.keys()) if (gap <= resumeSeq) resumeSeq = gap - 1;
    event.resumeSeq = resumeSeq;
    return event;
  }

  /** A newly committed event, to the listeners that want it and subscribed before it committed. */
  private hand(row: FeedEvent): void {
    this.withResume(row);
    for (const listener of this.listeners) {
      const committedSince = row.seq > listener.after || listener.missing.has(row.seq);
      if (committedSince && wanted(listener.filter, row)) listener.push(row);
    }
  }
}

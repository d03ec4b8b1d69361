import { Pool } from 'pg';
import {
  RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from 'rate-limiter-flexible';
import type { Config } from '../config';
import type { Logger } from '../observability/logger';

/** The outcome of one check, with what the RateLimit-* headers report. */
export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

const WINDOW_SECONDS = 60;

function decision(limit: number, result: RateLimiterRes, allowed: boolean): RateDecision {
  return {
    allowed,
    limit,
    remaining: Math.max(0, result.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
  };
}

/** Headers for a decision (IETF RateLimit fields, plus Retry-After when refused). */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Limit': String(d.limit),
    'RateLimit-Remaining': String(d.remaining),
    'RateLimit-Reset': String(d.resetSeconds),
  };
  if (!d.allowed) headers['Retry-After'] = String(d.resetSeconds);
  return headers;
}

/** One fixed-window budget per key; a limit of 0 turns it off. */
class Budget {
  constructor(
    readonly limit: number,
    private readonly limiter: RateLimiterAbstract | null,
  ) {}

  get enabled(): boolean {
    return this.limiter !== null;
  }

  /**
   * Spends `points` (a bulk update spends one per item); refused when the budget has fewer left. A
   * request for more than is left is refused before it is counted, so what is left stays for a smaller
   * one. (The limiter counts what it refuses; giving it back afterwards could land in the next window
   * as credit.) Only a request racing others for the last points is counted and refused.
   */
  async consume(key: string, points = 1): Promise<RateDecision | null> {
    if (!this.limiter) return null;
    const left = await this.peek(key);
    if (left && left.remaining < points) return { ...left, allowed: false };
    try {
      return decision(this.limit, await this.limiter.consume(key, points), true);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return decision(this.limit, rejection, false);
      throw rejection;
    }
  }

  /** Reads a key's state without spending from it. */
  async peek(key: string): Promise<RateDecision | null> {
    if (!this.limiter) return null;
    const state = await this.limiter.get(key);
    if (!state)
      return { allowed: true, limit: this.limit, remaining: this.limit, resetSeconds: WINDOW_SECONDS };
    return decision(this.limit, state, state.consumedPoints < this.limit);
  }
}

/**
 * Write budgets per credential and failed-authentication budgets per client address. In memory by
 * default; with RATE_LIMIT_STORE=postgres every server process on the database shares one budget.
 */
export class RateLimits {
  readonly writes: Budget;
  readonly authFailures: Budget;
  private readonly pool: Pool | null;

  constructor(config: Config, logger: Logger) {
    const shared = config.rateLimit.store === 'postgres';
    this.pool = shared ? new Pool({ connectionString: config.database.url, max: 4 }) : null;
    // An idle connection that fails (the database restarted, or ended it) is dropped by the pool;
    // unheard, the error would end the process.
    this.pool?.on('error', (error) => logger.warn({ err: error }, 'Rate-limit store connection failed'));
    const make = (prefix: string, points: number): RateLimiterAbstract | null => {
      if (points === 0) return null;
      if (!this.pool) return new RateLimiterMemory({ keyPrefix: prefix, points, duration: WINDOW_SECONDS });
      return new RateLimiterPostgres({
        storeClient: this.pool,
        tableName: 'rate_limits',
        tableCreated: true,
        keyPrefix: prefix,
        points,
        duration: WINDOW_SECONDS,
        clearExpiredByTimeout: true,
      });
    };
    this.writes = new Budget(
      config.rateLimit.writesPerMinute,
      make('write', config.rateLimit.writesPerMinute),
    );
    this.authFailures = new Budget(
      config.rateLimit.authFailuresPerMinute,
      make('authfail', config.rateLimit.authFailuresPerMinute),
    );
  }

  async close(): Promise<void> {
    await this.pool?.end();
  }
}

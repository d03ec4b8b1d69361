import crypto from 'node:crypto';
import { LessThan } from 'typeorm';
import { randomId } from '../auth/secrets';
import { Database, uniqueViolation } from '../db/database';
import { IdempotencyKey } from '../entities/idempotency-key.entity';

/** What to do with a request that carries an Idempotency-Key. */
export type IdempotencyStart =
  /**
   * Run the request under the claim `claimId`. `appliedResult` set: an earlier attempt under this claim
   * committed its write but never stored its response (its process died); the request runs again, and
   * its update answers with that result instead of writing (UserService.update).
   */
  | { outcome: 'proceed'; claimId: string; appliedResult: string | null }
  | { outcome: 'replay'; status: number; body: string; headers: Record<string, string> }
  /** The key was used before with a different request. */
  | { outcome: 'mismatch' }
  /** The first request with this key is still running. */
  | { outcome: 'in-progress' };

/** How long a stored response answers retries. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
/** Expired keys are deleted as new keys are claimed, at most this often per process. */
const PURGE_EVERY_MS = 60_000;
/** Default for how long a first attempt that neither wrote nor answered blocks its key (config). */
const ABANDONED_AFTER_SECONDS = 60;

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** What the API says about an Idempotency-Key, on REST and GraphQL alike. */
export const IDEMPOTENCY_MESSAGES = {
  invalid: 'Idempotency-Key must be 1 to 255 printable ASCII characters',
  reused: 'This Idempotency-Key was already used with a different request',
  inProgress: 'A request with this Idempotency-Key is still being processed; retry shortly',
} as const;

export function requestFingerprint(method: string, path: string, body: string): string {
  return crypto.createHash('sha256').update(`${method}\n${path}\n${body}`).digest('hex');
}

/**
 * Idempotency keys per credential: the first request claims the key, its response is stored, and
 * retries with the same key and request get that response without writing again.
 *
 * The claim row is also where the request's write leaves its outcome (`appliedResult`), in the write's
 * own transaction, and the write applies only while the claim still stands (UserDataPort.applyChanges).
 * So whatever dies when, a key's change is applied at most once: a retry of a request whose write
 * committed replays its outcome; one whose write did not commit may take the claim over once it is
 * abandoned, after which the old attempt can no longer write.
 */
export class IdempotencyService {
  private readonly abandonedAfterMs: number;
  private lastPurge = 0;

  constructor(
    private readonly db: Database,
    abandonedAfterSeconds = ABANDONED_AFTER_SECONDS,
  ) {
    this.abandonedAfterMs = abandonedAfterSeconds * 1000;
  }

  async start(credentialId: string, key: string, fingerprint: string): Promise<IdempotencyStart> {
    this.purgeNowAndThen();
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      const id = randomId('idem_');
      try {
        await this.db.write((m) =>
          m.getRepository(IdempotencyKey).insert({
            id,
            credentialId,
            key,
            fingerprint,
            status: null,
            responseBody: null,
            responseHeaders: null,
            appliedResult: null,
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + RETENTION_MS).toISOString(),
          }),
        );
        return { outcome: 'proceed', claimId: id, appliedResult: null };
      } catch (error) {
        if (!uniqueViolation(error)) throw error;
      }
      const existing = await this.db.read((m) =>
        m.getRepository(IdempotencyKey).findOneBy({ credentialId, key }),
      );
      if (!existing) continue;
      if (Date.parse(existing.expiresAt) <= now.getTime()) {
        await this.db.write((m) => m.getRepository(IdempotencyKey).delete({ id: existing.id }));
        continue;
      }
      const abandoned =
        existing.status === null &&
        existing.appliedResult === null &&
        now.getTime() - Date.parse(existing.createdAt) > this.abandonedAfterMs;
      if (abandoned) {
        // Only while nothing was applied under it: a write that commits meanwhile keeps its claim
        // (and the next turn replays it); once deleted, that attempt's write can no longer apply.
        await this.db.write((m) =>
          m
            .createQueryBuilder()
            .delete()
            .from(IdempotencyKey)
            .where('"id" = :id AND "status" IS NULL AND "applied_result" IS NULL', { id: existing.id })
            .execute(),
        );
        continue;
      }
      if (existing.fingerprint !== fingerprint) return { outcome: 'mismatch' };
      if (existing.status === null) {
        // Applied but never answered: the retry renders the answer from the applied outcome.
        if (existing.appliedResult !== null) {
          return { outcome: 'proceed', claimId: existing.id, appliedResult: existing.appliedResult };
        }
        return { outcome: 'in-progress' };
      }
      return {
        outcome: 'replay',
        status: existing.status,
        body: existing.responseBody ?? '',
        headers: existing.responseHeaders ?? {},
      };
    }
    return { outcome: 'in-progress' };
  }

  /** Stores the response that retries will receive. */
  async finish(claimId: string, status: number, body: string, headers: Record<string, string>) {
    // RateLimit-* described the budget as that request left it: a replay spends nothing, and says nothing of it.
    const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !/^ratelimit-/i.test(name)));
    await this.db.write((m) =>
      m
        .getRepository(IdempotencyKey)
        .update({ id: claimId }, { status, responseBody: body, responseHeaders: kept }),
    );
  }

  /**
   * Releases the claim (the request failed in a way a retry may fix, e.g. a 5xx or a rate limit), unless
   * its write applied: then the claim stays, and a retry replays that write's outcome.
   */
  async release(claimId: string): Promise<void> {
    await this.db.write((m) =>
      m
        .createQueryBuilder()
        .delete()
        .from(IdempotencyKey)
        .where('"id" = :id AND "status" IS NULL AND "applied_result" IS NULL', { id: claimId })
        .execute(),
    );
  }

  /**
   * Stored answers (user data, a webhook secret) are kept 24 hours, no longer: expired keys are deleted
   * as keys are used, off the request's path, at most once a minute per process; a failure is tried
   * again with the next key.
   */
  private purgeNowAndThen(): void {
    const now = Date.now();
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    this.purgeExpired().catch(() => (this.lastPurge = 0));
  }

  /** Removes expired entries; cheap enough to run now and then. */
  async purgeExpired(): Promise<number> {
    const result = await this.db.write((m) =>
      m.getRepository(IdempotencyKey).delete({ expiresAt: LessThan(new Date().toISOString()) }),
    );
    return result.affected ?? 0;
  }
}

import crypto from 'node:crypto';
import { LessThan } from 'typeorm';
import { randomId } from '../auth/secrets';
import { Database, uniqueViolation } from '../db/database';
import { IdempotencyKey } from '../entities/idempotency-key.entity';

/** What to do with a request that carries an Idempotency-Key. */
export type IdempotencyStart =
  | { outcome: 'proceed' }
  | { outcome: 'replay'; status: number; body: string; headers: Record<string, string> }
  /** The key was used before with a different request. */
  | { outcome: 'mismatch' }
  /** The first request with this key is still running. */
  | { outcome: 'in-progress' };

/** How long a stored response answers retries. */
const RETENTION_MS = 24 * 60 * 60 * 1000;
/** A first attempt that never finished (the process died) stops blocking its key after this long. */
const ABANDONED_AFTER_MS = 60 * 1000;

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function requestFingerprint(method: string, path: string, body: string): string {
  return crypto.createHash('sha256').update(`${method}\n${path}\n${body}`).digest('hex');
}

/**
 * Idempotency keys per credential: the first request claims the key, its response is stored, and
 * retries with the same key and request get that response without writing again.
 */
export class IdempotencyService {
  constructor(private readonly db: Database) {}

  async start(credentialId: string, key: string, fingerprint: string): Promise<IdempotencyStart> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = new Date();
      try {
        await this.db.write((m) =>
          m.getRepository(IdempotencyKey).insert({
            id: randomId('idem_'),
            credentialId,
            key,
            fingerprint,
            status: null,
            responseBody: null,
            responseHeaders: null,
            createdAt: now.toISOString(),
            expiresAt: new Date(now.getTime() + RETENTION_MS).toISOString(),
          }),
        );
        return { outcome: 'proceed' };
      } catch (error) {
        if (!uniqueViolation(error)) throw error;
      }
      const existing = await this.db.read((m) =>
        m.getRepository(IdempotencyKey).findOneBy({ credentialId, key }),
      );
      if (!existing) continue;
      const stale =
        Date.parse(existing.expiresAt) <= now.getTime() ||
        (existing.status === null && now.getTime() - Date.parse(existing.createdAt) > ABANDONED_AFTER_MS);
      if (stale) {
        await this.db.write((m) => m.getRepository(IdempotencyKey).delete({ id: existing.id }));
        continue;
      }
      if (existing.fingerprint !== fingerprint) return { outcome: 'mismatch' };
      if (existing.status === null) return { outcome: 'in-progress' };
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
  async finish(
    credentialId: string,
    key: string,
    status: number,
    body: string,
    headers: Record<string, string>,
  ) {
    await this.db.write((m) =>
      m
        .getRepository(IdempotencyKey)
        .update({ credentialId, key }, { status, responseBody: body, responseHeaders: headers }),
    );
  }

  /** Releases the key (the request failed in a way a retry may fix, e.g. a 5xx or a rate limit). */
  async release(credentialId: string, key: string): Promise<void> {
    await this.db.write((m) => m.getRepository(IdempotencyKey).delete({ credentialId, key }));
  }

  /** Removes expired entries; cheap enough to run now and then. */
  async purgeExpired(): Promise<number> {
    const result = await this.db.write((m) =>
      m.getRepository(IdempotencyKey).delete({ expiresAt: LessThan(new Date().toISOString()) }),
    );
    return result.affected ?? 0;
  }
}

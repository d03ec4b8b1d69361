import crypto from 'node:crypto';
import { CredentialKind } from '../entities/enums';

/**
 * Random bytes for ids, taken from a buffer the system's random generator refills every 256 ids (as
 * `crypto.randomUUID` does): one call per id costs a call into the generator each time, and every
 * write makes an id (its history row). Secrets do not come from here.
 */
const idBytes = Buffer.alloc(16 * 256);
let idBytesUsed = idBytes.length;

/** `prefix` + 16 random bytes in base64url (22 characters). */
export function randomId(prefix: string): string {
  if (idBytesUsed === idBytes.length) {
    crypto.randomFillSync(idBytes);
    idBytesUsed = 0;
  }
  idBytesUsed += 16;
  return prefix + idBytes.toString('base64url', idBytesUsed - 16, idBytesUsed);
}

/**
 * Whether `id` could be one we issued (printable ASCII, at most 64 characters). Anything else names
 * nothing, and must not reach a query: PostgreSQL refuses a NUL byte in a parameter outright.
 */
export function couldBeIssuedId(id: string): boolean {
  return /^[\x21-\x7e]{1,64}$/.test(id);
}

/** The visible prefix of each opaque secret kind; it tells the kind before any lookup. */
export const SECRET_PREFIX: Record<Exclude<CredentialKind, CredentialKind.JWT>, string> = {
  [CredentialKind.PERSONAL_ACCESS_TOKEN]: 'pat_',
  [CredentialKind.API_KEY]: 'key_',
  [CredentialKind.OAUTH]: 'oat_',
};

export function kindOfSecret(secret: string): Exclude<CredentialKind, CredentialKind.JWT> | null {
  for (const [kind, prefix] of Object.entries(SECRET_PREFIX)) {
    if (secret.startsWith(prefix)) return kind as Exclude<CredentialKind, CredentialKind.JWT>;
  }
  return null;
}

export function newSecret(kind: Exclude<CredentialKind, CredentialKind.JWT>): string {
  return SECRET_PREFIX[kind] + crypto.randomBytes(32).toString('base64url');
}

/** Secrets are high-entropy, so a plain SHA-256 is the right hash (no salt or stretching needed). */
export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

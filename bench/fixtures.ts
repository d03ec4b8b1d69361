import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';

/** The credentials one benchmark user holds: one per REST endpoint, so each scenario authenticates as it would. */
export interface MemberFixture {
  id: string;
  numericId: number;
  /** Personal access token: GraphQL `me` and PUT /v2/user (000). */
  pat: string;
  /** API key, sent as x-api-key to PATCH /v1/users/me (001). */
  apiKey: string;
  /** API key or OAuth token (alternating) with the `write` scope: PATCH /v1/users/{id} (002). */
  writeToken: string;
  /** JWT, sent as x-jwt-token to POST /v1/api/users/{numericId} (003). */
  jwt: string;
  /** OAuth token with users:write: PATCH /api/v1/users/{id} (004). */
  bearer: string;
}

/** What the load generator needs to build requests; user ids are derived, not shipped, so a million users cost nothing. */
export interface Fixtures {
  organizationId: string;
  /** Makes this run's user ids unique; see userIdOf. */
  nonce: string;
  /** Members are users 1..userCount; user 0 is the admin. */
  userCount: number;
  /** Coprime with userCount: request n updates member 1 + (n × stride mod userCount). */
  stride: number;
  adminPat: string;
  members: MemberFixture[];
}

/**
 * The public id of benchmark user `index` (0 = admin): `usr_` and 22 URL-safe characters like the ids the
 * server issues (the run's 12-character nonce, then the index in 10 digits). The seed computes the same
 * in SQL, and the load generator can address any of a million users without shipping a list.
 */
export function userIdOf(nonce: string, index: number): string {
  return `usr_${nonce}${String(index).padStart(10, '0')}`;
}

/** 12 URL-safe characters that make this run's ids its own. */
export function newNonce(): string {
  return crypto.randomBytes(9).toString('base64url');
}

/** An opaque secret in the server's format (prefix + 32 random bytes in base64url). */
export function newSecret(prefix: 'pat_' | 'key_' | 'oat_'): string {
  return prefix + crypto.randomBytes(32).toString('base64url');
}

/** Credential ids look like the server's (`cred_` + 16 random bytes). */
export function newCredentialId(): string {
  return `cred_${crypto.randomBytes(16).toString('base64url')}`;
}

/** The same SHA-256 hex the server stores (src/auth/secrets.ts). */
export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Signs JWTs with the claims src/auth/jwt.ts verifies: sub, jti (the credential row), scope, exp. */
export function jwtSigner(secret: string) {
  // One key object for all tokens: jsonwebtoken would otherwise build one per call (about 1 ms each).
  const key = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
  return (claims: { sub: string; jti: string; scopes: string[]; expiresAt: Date }): string =>
    jwt.sign({ scope: claims.scopes.join(' '), exp: Math.floor(claims.expiresAt.getTime() / 1000) }, key, {
      algorithm: 'HS256',
      subject: claims.sub,
      jwtid: claims.jti,
    });
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import type { Config } from '../config';

export interface AccessClaims {
  /** The user's public id. */
  sub: string;
  /** The credential row that can revoke this token. */
  jti: string;
  scope: string;
  exp: number;
}

/**
 * JOSE header parameters a token of ours never has: those that select or carry a key, and those that
 * change how it must be read (`crit` extensions, RFC 7515 §4.1.11; `b64`, RFC 7797), which we do not
 * implement.
 */
const FOREIGN_HEADERS = ['kid', 'jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'crit', 'b64'];

/**
 * How many verified tokens a codec remembers. Each costs about half a kilobyte; a full cache forgets
 * its oldest entry first.
 */
export const VERIFIED_TOKENS_REMEMBERED = 10_000;

/** Signs and verifies our JWTs with one algorithm and one secret. */
export class JwtCodec {
  /**
   * Made once: given a string, jsonwebtoken first tries it as a public key (and fails with an
   * exception) and then builds a secret key object, on every call.
   */
  private readonly key: crypto.KeyObject;
  /**
   * Tokens that verified, with their claims. Checking a signature (two base64 and JSON decodes and an
   * HMAC) is most of the CPU a JWT request spends on its credential, and clients send the same token
   * many times. Only the clock can change the answer for a token we once accepted: `nbf` already lay
   * in the past, so a remembered token is checked against its `exp` on every use. Revocation is not
   * the codec's business: the credential named by `jti` is read on every request.
   */
  private readonly verified = new Map<string, Readonly<AccessClaims>>();

  constructor(
    secret: string,
    private readonly options: Config['jwt'],
    private readonly remember = VERIFIED_TOKENS_REMEMBERED,
  ) {
    this.key = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
  }

  sign(claims: { sub: string; jti: string; scopes: readonly string[]; expiresInSeconds: number }): string {
    return jwt.sign({ scope: claims.scopes.join(' ') }, this.key, {
      algorithm: this.options.algorithm,
      subject: claims.sub,
      jwtid: claims.jti,
      expiresIn: claims.expiresInSeconds,
      ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience ? { audience: this.options.audience } : {}),
    });
  }

  /** Returns the claims, or null for anything not signed by us, expired, not yet valid or incomplete. */
  verify(token: string): Readonly<AccessClaims> | null {
    const remembered = this.verified.get(token);
    if (remembered) {
      // jsonwebtoken's own rule: expired once the current whole second reaches `exp`.
      if (Math.floor(Date.now() / 1000) < remembered.exp) return remembered;
      this.verified.delete(token);
      return null;
    }
    const claims = this.check(token);
    if (claims && this.remember > 0) {
      if (this.verified.size >= this.remember) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
    }
    return claims;
  }

  private check(token: string): Readonly<AccessClaims> | null {
    let verified: jwt.Jwt;
    try {
      verified = jwt.verify(token, this.key, {
        complete: true,
        algorithms: [this.options.algorithm],
        ...(this.options.issuer ? { issuer: this.options.issuer } : {}),
        ...(this.options.audience ? { audience: this.options.audience } : {}),
      });
    } catch {
      return null;
    }
    // We sign with one secret and never name a key: a header that points at one (kid, jku, x5u, jwk,
    // x5c) is someone else's token or a key-confusion attempt, whatever signed it.
    const header = verified.header as unknown as Record<string, unknown>;
    if (FOREIGN_HEADERS.some((name) => Object.hasOwn(header, name))) return null;
    const payload: unknown = verified.payload;
    if (typeof payload !== 'object' || payload === null) return null;
    const p = payload as Record<string, unknown>;
    if (typeof p.exp !== 'number' || typeof p.sub !== 'string' || typeof p.jti !== 'string') return null;
    return Object.freeze({
      sub: p.sub,
      jti: p.jti,
      exp: p.exp,
      scope: typeof p.scope === 'string' ? p.scope : '',
    });
  }
}

/**
 * JWT_SECRET when set; otherwise a secret generated once into DATA_DIR. Creation uses O_EXCL so the
 * server and the CLI racing on a fresh directory end up with the same secret.
 */
export function loadJwtSecret(config: Config): string {
  if (config.jwt.secret) return config.jwt.secret;
  const file = path.join(config.dataDir, 'jwt-secret');
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, crypto.randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (secret.length >= 32) return secret;
    // Another process created the file and has not finished writing it yet.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  throw new Error(`${file} does not hold a usable JWT secret (at least 32 characters)`);
}

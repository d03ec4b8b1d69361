import type { IncomingMessage } from 'node:http';
import { parse as parseCookie } from 'cookie';
import { CredentialKind } from '../entities/enums';
import { kindOfSecret } from './secrets';

/** Where a credential came from; REST endpoints accept only some of these. */
export type CredentialSource = 'authorization' | 'x-api-key' | 'x-jwt-token' | 'cookie';

export interface PresentedCredential {
  source: CredentialSource;
  kind: CredentialKind;
  value: string;
}

export type Extraction = { ok: true; credential: PresentedCredential | null } | { ok: false; reason: string };

type Headers = Record<string, string | string[] | undefined>;

const MAX_CREDENTIAL_LENGTH = 4096;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function single(headers: Headers, name: string): string | undefined | null {
  const value = headers[name];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : null;
  return value;
}

function classify(value: string, source: CredentialSource): PresentedCredential | string {
  if (value.length > MAX_CREDENTIAL_LENGTH) return 'credential is too long';
  if (!PRINTABLE_ASCII.test(value)) return 'credential contains characters no credential has';
  const opaque = kindOfSecret(value);
  if (opaque) return { source, kind: opaque, value };
  if (JWT_SHAPE.test(value)) return { source, kind: CredentialKind.JWT, value };
  return 'credential is not in a recognised format';
}

/**
 * The credential headers as the client sent them. Node keeps only the first of several `Authorization`
 * headers in `req.headers` (and joins repeated `x-…` headers with commas), so each is read from the raw
 * headers: a second one must be seen to be refused. Cookie headers are joined as Node joins them.
 */
function credentialHeaders(req: IncomingMessage): Headers {
  const headers: Headers = { cookie: req.headers.cookie };
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index].toLowerCase();
    if (name !== 'authorization' && name !== 'x-api-key' && name !== 'x-jwt-token') continue;
    const seen = headers[name];
    headers[name] = seen === undefined ? raw[index + 1] : [...[seen].flat(), raw[index + 1]];
  }
  return headers;
}

/** The value of every `jwt` pair in a Cookie header (Node joins several Cookie headers with `; `). */
function jwtCookies(header: string): string[] {
  return header
    .split(';')
    .filter((pair) => pair.trimStart().startsWith('jwt='))
    .map((pair) => parseCookie(pair).jwt)
    .filter((value): value is string => value !== undefined);
}

/**
 * Reads every credential a request carries (Authorization Bearer, x-api-key, x-jwt-token, the `jwt`
 * cookie). More than one distinct credential, or a credential header sent twice, is refused: the
 * caller must say who they are once.
 */
export function extractCredential(req: IncomingMessage): Extraction {
  const headers = credentialHeaders(req);
  const found: PresentedCredential[] = [];
  const authorization = single(headers, 'authorization');
  if (authorization === null) return { ok: false, reason: 'more than one Authorization header' };
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
    if (!match) return { ok: false, reason: 'Authorization must be "Bearer <token>"' };
    const credential = classify(match[1], 'authorization');
    if (typeof credential === 'string') return { ok: false, reason: credential };
    found.push(credential);
  }
  const apiKey = single(headers, 'x-api-key');
  if (apiKey === null) return { ok: false, reason: 'more than one x-api-key header' };
  if (apiKey !== undefined) {
    const credential = classify(apiKey.trim(), 'x-api-key');
    if (typeof credential === 'string') return { ok: false, reason: credential };
    if (credential.kind !== CredentialKind.API_KEY)
      return { ok: false, reason: 'x-api-key takes an API key (key_…)' };
    found.push(credential);
  }
  const jwtHeader = single(headers, 'x-jwt-token');
  if (jwtHeader === null) return { ok: false, reason: 'more than one x-jwt-token header' };
  if (jwtHeader !== undefined) {
    const credential = classify(jwtHeader.trim(), 'x-jwt-token');
    if (typeof credential === 'string') return { ok: false, reason: credential };
    if (credential.kind !== CredentialKind.JWT) return { ok: false, reason: 'x-jwt-token takes a JWT' };
    found.push(credential);
  }
  const cookieHeader = single(headers, 'cookie');
  if (typeof cookieHeader === 'string' && cookieHeader.length <= 16 * 1024) {
    // cookie.parse keeps the first of several `jwt` pairs; every one the client sent must be judged.
    for (const jwtCookie of jwtCookies(cookieHeader)) {
      const credential = classify(jwtCookie, 'cookie');
      if (typeof credential === 'string') return { ok: false, reason: credential };
      if (credential.kind !== CredentialKind.JWT) return { ok: false, reason: 'the jwt cookie takes a JWT' };
      found.push(credential);
    }
  }
  const distinct = new Set(found.map((c) => c.value));
  if (distinct.size > 1) {
    return { ok: false, reason: 'more than one credential sent; send exactly one' };
  }
  return { ok: true, credential: found[0] ?? null };
}

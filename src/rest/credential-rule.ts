import type { IncomingMessage } from 'node:http';
import { type Extraction, extractCredential, type PresentedCredential } from '../auth/presented-credential';
import type { RequestContext } from '../auth/principal';
import { CredentialKind } from '../entities/enums';
import { AppError, RateLimitedError } from '../errors/app-error';
import { requireNeeds } from '../auth/auth-checker';
import type { Need } from '../auth/scopes';
import { ErrorCode } from '../errors/error-code';
import type { RequestAuthenticator } from '../auth/request-authenticator';
import { RestFailure } from './rest-failure';

/** Which presented credentials an endpoint takes, and how it names them to a caller who sent another. */
export interface CredentialRule {
  accepts(credential: PresentedCredential): boolean;
  /** Completes "This endpoint accepts only …". */
  requirement: string;
  /** The WWW-Authenticate challenge sent with every 401. */
  challenge: string;
}

const KIND_NAMES: Record<CredentialKind, string> = {
  [CredentialKind.PERSONAL_ACCESS_TOKEN]: 'a personal access token',
  [CredentialKind.API_KEY]: 'an API key',
  [CredentialKind.OAUTH]: 'an OAuth token',
  [CredentialKind.JWT]: 'a JWT',
};

const SOURCE_NAMES: Record<PresentedCredential['source'], string> = {
  authorization: 'as Authorization: Bearer',
  'x-api-key': 'in the x-api-key header',
  'x-jwt-token': 'in the x-jwt-token header',
  cookie: 'in the jwt cookie',
};

/** "an API key in the x-api-key header": what the caller sent, for the 401 message. */
export function describeCredential(credential: PresentedCredential): string {
  return `${KIND_NAMES[credential.kind]} ${SOURCE_NAMES[credential.source]}`;
}

/**
 * The request's context as /graphql builds it (no credential: no principal); a refusal as a RestFailure,
 * a spent budget with its Retry-After.
 */
export async function authenticateRequest(
  req: IncomingMessage,
  extracted: Extraction,
  authenticator: RequestAuthenticator,
  requestId: string,
): Promise<RequestContext> {
  try {
    return await authenticator.authenticate(extracted, requestId, req.socket.remoteAddress ?? 'unknown');
  } catch (error) {
    if (error instanceof RateLimitedError) {
      throw new RestFailure(error.code, error.message, [], undefined, false, error.headers);
    }
    if (error instanceof AppError) throw new RestFailure(error.code, error.message);
    throw error;
  }
}

/**
 * Authenticates the request the way /graphql does (one context builder), then refuses credential kinds
 * or places the endpoint does not take (401: the request holds no credential valid for this endpoint,
 * RFC 9110 §15.5.2; the message says what it takes), then a credential without a scope granting `need`
 * (403), before anything of the request is read or judged.
 */
export async function authenticateFor(
  req: IncomingMessage,
  rule: CredentialRule,
  authenticator: RequestAuthenticator,
  requestId: string,
  need: Need,
): Promise<RequestContext> {
  const extracted = extractCredential(req);
  if (extracted.ok && !extracted.credential) {
    throw new RestFailure(ErrorCode.UNAUTHENTICATED, `Authentication required: send ${rule.requirement}`);
  }
  const ctx = await authenticateRequest(req, extracted, authenticator, requestId);
  const credential = (extracted.ok && extracted.credential) as PresentedCredential;
  if (!rule.accepts(credential)) {
    throw new RestFailure(
      ErrorCode.UNAUTHENTICATED,
      `This endpoint accepts only ${rule.requirement}; the request sent ${describeCredential(credential)}`,
    );
  }
  try {
    requireNeeds(ctx.principal, [need]);
  } catch (error) {
    if (error instanceof AppError) throw new RestFailure(error.code, error.message);
    throw error;
  }
  return ctx;
}

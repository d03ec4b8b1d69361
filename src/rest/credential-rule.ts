import type { Request } from 'express';
import { extractCredential, type PresentedCredential } from '../auth/presented-credential';
import type { RequestContext } from '../auth/principal';
import { CredentialKind } from '../entities/enums';
import { AppError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { buildRequestContext } from '../graphql/context';
import type { CredentialService } from '../services/credential.service';
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

/** "an API key in the x-api-key header": what the caller sent, for the 403 message. */
export function describeCredential(credential: PresentedCredential): string {
  return `${KIND_NAMES[credential.kind]} ${SOURCE_NAMES[credential.source]}`;
}

/**
 * Authenticates the request the way /graphql does (one context builder), then refuses credential kinds
 * or places the endpoint does not take: 401 when there is no valid credential, 403 when it is the wrong one.
 */
export async function authenticateFor(
  req: Request,
  rule: CredentialRule,
  credentials: CredentialService,
  requestId: string,
): Promise<RequestContext> {
  const extracted = extractCredential(req.headers);
  if (!extracted.ok)
    throw new RestFailure(ErrorCode.UNAUTHENTICATED, `Invalid credential: ${extracted.reason}`);
  const credential = extracted.credential;
  if (!credential) {
    throw new RestFailure(ErrorCode.UNAUTHENTICATED, `Authentication required: send ${rule.requirement}`);
  }
  let ctx: RequestContext;
  try {
    ctx = await buildRequestContext(credentials, credential, requestId);
  } catch (error) {
    if (error instanceof AppError) throw new RestFailure(error.code, error.message);
    throw error;
  }
  if (!rule.accepts(credential)) {
    throw new RestFailure(
      ErrorCode.FORBIDDEN,
      `This endpoint accepts only ${rule.requirement}; the request sent ${describeCredential(credential)}`,
    );
  }
  return ctx;
}

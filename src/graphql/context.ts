import crypto from 'node:crypto';
import type { PresentedCredential } from '../auth/presented-credential';
import type { RequestContext } from '../auth/principal';
import type { CredentialService } from '../services/credential.service';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, else a fresh one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : crypto.randomUUID();
}

/**
 * Builds the request context from one presented credential (or none). GraphQL and every REST endpoint
 * use this, so authentication has one implementation; callers decide which credential kinds they accept.
 */
export async function buildRequestContext(
  credentials: CredentialService,
  presented: PresentedCredential | null,
  requestId: string,
): Promise<RequestContext> {
  if (!presented) return { requestId, principal: null };
  return { requestId, principal: await credentials.authenticate(presented) };
}

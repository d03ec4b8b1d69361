import type { Extraction, PresentedCredential } from './presented-credential';
import type { Principal, RequestContext } from './principal';
import { RateLimitedError, UnauthenticatedError } from '../errors/app-error';
import { rateLimitHeaders, type RateDecision, type RateLimits } from '../limits/rate-limits';

/** Finds who a presented credential belongs to (the credential service does), or throws UnauthenticatedError. */
export interface CredentialChecker {
  authenticate(credential: PresentedCredential): Promise<Principal>;
}

function tooManyFailures(decision: RateDecision): RateLimitedError {
  return new RateLimitedError(
    `Too many failed authentication attempts from this address; retry in ${decision.resetSeconds} s`,
    rateLimitHeaders(decision),
  );
}

/**
 * Turns what a request presented into its context. GraphQL and every REST endpoint go through here, so
 * authentication and its brute-force budget have one implementation; callers decide which credential
 * kinds they accept.
 */
export class RequestAuthenticator {
  constructor(
    private readonly credentials: CredentialChecker,
    private readonly limits: RateLimits,
  ) {}

  async authenticate(
    extraction: Extraction,
    requestId: string,
    clientAddress: string,
  ): Promise<RequestContext> {
    if (extraction.ok && !extraction.credential) return { requestId, principal: null };
    const standing = await this.limits.authFailures.peek(clientAddress);
    if (standing && !standing.allowed) throw tooManyFailures(standing);
    try {
      if (!extraction.ok) throw new UnauthenticatedError(`Invalid credential: ${extraction.reason}`);
      return { requestId, principal: await this.credentials.authenticate(extraction.credential!) };
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        const decision = await this.limits.authFailures.consume(clientAddress);
        if (decision && !decision.allowed) throw tooManyFailures(decision);
      }
      throw error;
    }
  }
}

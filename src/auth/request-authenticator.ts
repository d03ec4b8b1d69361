import type { Extraction } from './presented-credential';
import type { RequestContext } from './principal';
import { RateLimitedError, UnauthenticatedError } from '../errors/app-error';
import { rateLimitHeaders, type RateDecision, type RateLimits } from '../limits/rate-limits';
import type { CredentialService } from '../services/credential.service';

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
    private readonly credentials: CredentialService,
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

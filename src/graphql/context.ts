import crypto from 'node:crypto';
import type { Extraction } from '../auth/presented-credential';
import type { RequestContext } from '../auth/principal';
import { RateLimitedError, UnauthenticatedError } from '../errors/app-error';
import { rateLimitHeaders, type RateDecision, type RateLimits } from '../limits/rate-limits';
import type { UserStore } from '../db/user-store';
import type { CredentialService } from '../services/credential.service';
import { PrefetchedUsers } from '../services/prefetched-users';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, else a fresh one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : crypto.randomUUID();
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
    private readonly credentials: CredentialService,
    private readonly limits: RateLimits,
    /** Where users the request names are read alongside its credential (none when absent). */
    private readonly users?: UserStore,
  ) {}

  /**
   * `named`: values the request names users with (GraphQL variables, REST path parameters); those that
   * could be a user's id are read together with the credential, for the services to use once the
   * caller is known (PrefetchedUsers). Nothing is read for a request without a credential.
   */
  async authenticate(
    extraction: Extraction,
    requestId: string,
    clientAddress: string,
    named: Iterable<unknown> = [],
  ): Promise<RequestContext> {
    if (extraction.ok && !extraction.credential) return { requestId, principal: null };
    const standing = await this.limits.authFailures.peek(clientAddress);
    if (standing && !standing.allowed) throw tooManyFailures(standing);
    try {
      if (!extraction.ok) throw new UnauthenticatedError(`Invalid credential: ${extraction.reason}`);
      // Started in the same turn as the credential's read, so both reach the database together.
      const principal = this.credentials.authenticate(extraction.credential!);
      let prefetchedUsers: PrefetchedUsers | undefined;
      if (this.users) {
        prefetchedUsers = new PrefetchedUsers(this.users);
        for (const value of named) prefetchedUsers.start(value);
      }
      return { requestId, principal: await principal, prefetchedUsers };
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        const decision = await this.limits.authFailures.consume(clientAddress);
        if (decision && !decision.allowed) throw tooManyFailures(decision);
      }
      throw error;
    }
  }
}

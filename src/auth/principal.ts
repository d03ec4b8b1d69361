import type { CredentialKind } from '../entities/enums';
import type { User } from '../entities/user.entity';

/** Who is calling: the user as stored now (role, organization, status) and what the credential allows. */
export interface Principal {
  user: User;
  credentialId: string;
  credentialKind: CredentialKind;
  scopes: ReadonlySet<string>;
}

/**
 * The Idempotency-Key claim a REST write holds (IdempotencyService.start): its update records its
 * outcome on the claim in the same transaction, and is refused when the claim no longer stands.
 */
export interface IdempotencyClaim {
  claimId: string;
  /** The outcome an earlier attempt under this claim already applied: replayed, not written again. */
  appliedResult: string | null;
}

/** The request context every service method takes first. */
export interface RequestContext {
  requestId: string;
  /** null for unauthenticated requests. */
  principal: Principal | null;
  /** True only for the operator CLI and start-up seeding, which act outside any user's rights. */
  operator?: boolean;
  /** Fields each mutation (by response key) changed, reported in the response's extensions. */
  changedFields?: Record<string, string[]>;
  /** Set by the REST shim for a write sent with an Idempotency-Key. */
  idempotency?: IdempotencyClaim;
}

export function operatorContext(requestId = 'cli'): RequestContext {
  return { requestId, principal: null, operator: true };
}

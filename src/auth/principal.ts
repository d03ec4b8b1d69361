import type { CredentialKind } from '../entities/enums';
import type { User } from '../entities/user.entity';

/** Who is calling: the user as stored now (role, organization, status) and what the credential allows. */
export interface Principal {
  user: User;
  credentialId: string;
  credentialKind: CredentialKind;
  scopes: ReadonlySet<string>;
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
}

export function operatorContext(requestId = 'cli'): RequestContext {
  return { requestId, principal: null, operator: true };
}

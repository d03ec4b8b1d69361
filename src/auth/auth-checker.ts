import type { AuthChecker } from 'type-graphql';
import { ForbiddenError, UnauthenticatedError } from '../errors/app-error';
import type { Principal, RequestContext } from './principal';
import { grants, Need, scopesGranting } from './scopes';

/** A principal must be present and hold a scope granting each of `needs`. */
export function requireNeeds(principal: Principal | null | undefined, needs: readonly Need[]): void {
  if (!principal) throw new UnauthenticatedError();
  for (const need of needs) {
    if (!grants(principal.scopes, need)) {
      throw new ForbiddenError(
        `This credential cannot ${need}: it needs the ${scopesGranting(need).join(' or ')} scope`,
      );
    }
  }
}

/** `@Authorized(Need.X)`. */
export const authChecker: AuthChecker<RequestContext, Need> = ({ context }, needs) => {
  requireNeeds(context.principal, needs);
  return true;
};

import type { AuthChecker } from 'type-graphql';
import { ForbiddenError, UnauthenticatedError } from '../errors/app-error';
import type { RequestContext } from './principal';
import { grants, Need, scopesGranting } from './scopes';

/** `@Authorized(Need.X)`: a principal must be present and hold a scope granting X. */
export const authChecker: AuthChecker<RequestContext, Need> = ({ context }, needs) => {
  const principal = context.principal;
  if (!principal) throw new UnauthenticatedError();
  for (const need of needs) {
    if (!grants(principal.scopes, need)) {
      throw new ForbiddenError(
        `This credential cannot ${need}: it needs the ${scopesGranting(need).join(' or ')} scope`,
      );
    }
  }
  return true;
};

import { Role } from '../../entities/enums';
import { EmailRule, RequiredEnumRule, UserNameRule, UsernameRule } from './user-field.rules';

/** What the operator supplies to create a user. */
export class NewUserInput {
  organizationId: string;

  @EmailRule()
  email: string;

  @UserNameRule()
  name: string;

  @UsernameRule()
  username?: string | null;

  @RequiredEnumRule(Object.values(Role))
  role?: Role;
}

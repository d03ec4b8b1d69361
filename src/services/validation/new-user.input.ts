import { Role } from '../../entities/enums';
import {
  EmailRule,
  OptionalTextRule,
  RequiredEnumRule,
  TimezoneRule,
  UserNameRule,
  UsernameRule,
} from './user-field.rules';

/** The fields a new user must have (the rules below, shared with updates, skip an absent field). */
export const NEW_USER_REQUIRED = ['email', 'name'] as const;

/** What the operator supplies to create a user (one CLI call, or one row of a bulk import). */
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

  @OptionalTextRule()
  firstName?: string | null;

  @OptionalTextRule()
  lastName?: string | null;

  @OptionalTextRule()
  jobTitle?: string | null;

  @OptionalTextRule()
  companyName?: string | null;

  @TimezoneRule()
  timezone?: string | null;
}

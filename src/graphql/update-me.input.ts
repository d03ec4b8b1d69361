import { Field, InputType } from 'type-graphql';
import { ProjectsSortOrder } from '../entities/enums';
import {
  EmailRule,
  ExperimentsRule,
  OptionalTextRule,
  TimezoneRule,
  UserNameRule,
  UsernameRule,
} from '../services/validation/user-field.rules';
import type { UserPatch } from '../services/user-patch';

/** The caller's own profile fields. Absent fields are left alone; null clears a nullable field. */
@InputType({ description: 'Absent fields are left alone; null clears a nullable field' })
export class UpdateMeInput implements UserPatch {
  @Field(() => String, { nullable: true, description: '1 to 200 characters; cannot be null' })
  @UserNameRule()
  name?: string;

  @Field(() => String, {
    nullable: true,
    description: 'Unique in the organization (any capitalisation); cannot be null',
  })
  @EmailRule()
  email?: string;

  @Field(() => String, { nullable: true, description: 'Unique in the organization (any capitalisation)' })
  @UsernameRule()
  username?: string | null;

  @Field(() => String, { nullable: true })
  @OptionalTextRule()
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  @OptionalTextRule()
  lastName?: string | null;

  @Field(() => String, { nullable: true })
  @OptionalTextRule()
  jobTitle?: string | null;

  @Field(() => String, { nullable: true })
  @OptionalTextRule()
  companyName?: string | null;

  @Field(() => [String], {
    nullable: true,
    description: 'At most 50 items of 1 to 100 characters; cannot be null',
  })
  @ExperimentsRule()
  experiments?: string[];

  @Field(() => ProjectsSortOrder, { nullable: true })
  projectsSortOrder?: ProjectsSortOrder | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone name, e.g. "Europe/Paris"' })
  @TimezoneRule()
  timezone?: string | null;
}

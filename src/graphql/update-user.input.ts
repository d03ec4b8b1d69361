import { Field, InputType } from 'type-graphql';
import { GraphQLJSONObject } from 'graphql-scalars';
import { Role, UserStatus } from '../entities/enums';
import { MetadataRule, RequiredEnumRule } from '../services/validation/user-field.rules';
import { UpdateMeInput } from './update-me.input';

/** Everything in UpdateMeInput plus the admin-only fields. */
@InputType({ description: 'Absent fields are left alone; null clears a nullable field' })
export class UpdateUserInput extends UpdateMeInput {
  @Field(() => Role, { nullable: true, description: 'Admins only; cannot be null' })
  @RequiredEnumRule(Object.values(Role))
  role?: Role;

  @Field(() => UserStatus, { nullable: true, description: 'Admins only; cannot be null' })
  @RequiredEnumRule(Object.values(UserStatus))
  status?: UserStatus;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'Admins only. Merged per key; a key set to null is removed. At most 16 keys in all.',
  })
  @MetadataRule()
  metadata?: Record<string, string | number | boolean | null>;
}

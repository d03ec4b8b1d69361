import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { User } from '../entities/user.entity';
import { UpdateUserInput } from './update-user.input';

@InputType({ description: 'One update of updateUsers: the same arguments as updateUser' })
export class UpdateUsersItem {
  @Field(() => ID)
  id!: string;

  @Field(() => UpdateUserInput)
  input!: UpdateUserInput;

  @Field(() => Int, {
    nullable: true,
    description: 'When given, this item is refused with CONFLICT unless the stored version equals it',
  })
  expectedVersion?: number | null;
}

@ObjectType({ description: 'One invalid input field and why' })
export class InputFieldError {
  @Field()
  field!: string;

  @Field()
  message!: string;
}

@ObjectType({ description: 'Why one item of updateUsers was not applied' })
export class UpdateUsersItemError {
  @Field({
    description:
      'The code updateUser would have answered with (BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, CONFLICT, or ' +
      'INTERNAL_SERVER_ERROR for a failure of the server, logged), or NOT_APPLIED: the call was atomic and ' +
      'another item was refused',
  })
  code!: string;

  @Field()
  message!: string;

  @Field(() => [InputFieldError], { description: 'The fields at fault, when the error names any' })
  fields!: InputFieldError[];

  @Field(() => Int, {
    nullable: true,
    description:
      'CONFLICT on version (a stale expectedVersion): the user’s version now, as updateUser says it',
  })
  currentVersion?: number | null;
}

@ObjectType({ description: 'The result of one item of updateUsers, in the order of the items' })
export class UpdateUsersResult {
  @Field(() => User, { nullable: true, description: 'The user after the update; null when not applied' })
  user!: User | null;

  @Field(() => [String], {
    nullable: true,
    description: 'The fields that really changed (empty for a no-op)',
  })
  changedFields!: string[] | null;

  @Field(() => UpdateUsersItemError, { nullable: true })
  error!: UpdateUsersItemError | null;
}

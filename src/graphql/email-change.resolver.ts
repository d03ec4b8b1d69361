import type { GraphQLResolveInfo } from 'graphql';
import { GraphQLDateTimeISO } from 'graphql-scalars';
import {
  Arg,
  Authorized,
  Ctx,
  Field,
  FieldResolver,
  ID,
  Info,
  Int,
  Mutation,
  ObjectType,
  Resolver,
  Root,
} from 'type-graphql';
import { requireNeeds } from '../auth/auth-checker';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import { Role } from '../entities/enums';
import { User } from '../entities/user.entity';
import type { UpdateOutcome, UserService } from '../services/user.service';
import { reportChanges } from './user.resolver';

@ObjectType({ description: 'What an email change link (or cancelEmailChange) did to the user' })
export class EmailChangeResult {
  @Field(() => ID)
  userId!: string;

  @Field({ description: 'The address in use now' })
  email!: string;

  @Field()
  emailVerified!: boolean;

  @Field(() => String, { nullable: true, description: 'The change still pending, if any' })
  pendingEmail!: string | null;

  @Field(() => Int)
  version!: number;

  @Field(() => [String], { description: 'The fields that changed' })
  changedFields!: string[];
}

/** Who sees a user's pending email change: the user, the organization's admins and the operator. */
export function maySeePendingEmail(
  ctx: RequestContext,
  user: { id: string; organizationId: string },
): boolean {
  const caller = ctx.principal?.user;
  return (
    ctx.operator === true ||
    caller?.id === user.id ||
    (caller?.role === Role.ADMIN && caller.organizationId === user.organizationId)
  );
}

/** A pending change is shown to those who may see it (maySeePendingEmail), and only until it expires. */
function visiblePending(user: User, ctx: RequestContext): boolean {
  if (user.pendingEmail === null) return false;
  if (user.pendingEmailExpiresAt !== null && user.pendingEmailExpiresAt <= new Date().toISOString())
    return false;
  return maySeePendingEmail(ctx, user);
}

/** The result, its changed fields also reported in `extensions.changedFields`, as every mutation's are. */
function resultOf(outcome: UpdateOutcome, ctx: RequestContext, info: GraphQLResolveInfo): EmailChangeResult {
  const user = reportChanges(ctx, info, outcome);
  return {
    userId: user.id,
    email: user.email,
    emailVerified: user.emailVerified,
    pendingEmail: user.pendingEmail,
    version: user.version,
    changedFields: outcome.changedFields,
  };
}

/**
 * Verified email changes: users' own new address is pending until confirmed through the link sent to
 * it (updateMe, updateUser); these are the links' mutations and the pending fields of User.
 */
@Resolver(() => User)
export class EmailChangeResolver {
  constructor(private readonly userService: UserService) {}

  @FieldResolver(() => String, {
    nullable: true,
    description:
      'An address the user asked to change their email to, applied once confirmed through the link sent to it ' +
      '(shown to the user and admins, until it expires)',
  })
  pendingEmail(@Root() user: User, @Ctx() ctx: RequestContext): string | null {
    return visiblePending(user, ctx) ? user.pendingEmail : null;
  }

  @FieldResolver(() => GraphQLDateTimeISO, {
    nullable: true,
    description: 'When the links of the pending email change stop working',
  })
  pendingEmailExpiresAt(@Root() user: User, @Ctx() ctx: RequestContext): string | null {
    return visiblePending(user, ctx) ? user.pendingEmailExpiresAt : null;
  }

  @Mutation(() => EmailChangeResult, {
    description:
      'Applies the pending email change of the confirmation link sent to the new address (its token): the ' +
      'address becomes the email, verified. No credential is needed; one sent must be the same user’s.',
  })
  async confirmEmailChange(
    @Ctx() ctx: RequestContext,
    @Arg('token', () => String, { description: 'The token of the confirmation link' }) token: string,
    @Info() info: GraphQLResolveInfo,
  ): Promise<EmailChangeResult> {
    return resultOf(await this.userService.confirmEmailChange(ctx, token), ctx, info);
  }

  @Mutation(() => EmailChangeResult, {
    description:
      'Cancels a pending email change: with the token of the link sent to the current address, or without ' +
      'one, the caller’s own (a credential with a write scope)',
  })
  async cancelEmailChange(
    @Ctx() ctx: RequestContext,
    @Arg('token', () => String, { nullable: true, description: 'The token of the cancel link' })
    token: string | null | undefined,
    @Info() info: GraphQLResolveInfo,
  ): Promise<EmailChangeResult> {
    // Without a token the credential is the only authority, and cancelling is a write.
    if (token == null) requireNeeds(ctx.principal, [Need.WRITE]);
    return resultOf(await this.userService.cancelEmailChange(ctx, token), ctx, info);
  }

  @Authorized(Need.WRITE)
  @Mutation(() => User, {
    description:
      'Sends the confirmation of the caller’s pending email change again, with new links (the old ones stop ' +
      'working); a few per hour at most',
  })
  async resendEmailChange(@Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo): Promise<User> {
    return reportChanges(ctx, info, await this.userService.resendEmailChange(ctx));
  }
}

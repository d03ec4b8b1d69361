import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, ID, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import { User } from '../entities/user.entity';
import { encodeCursor } from '../services/pagination';
import { type UpdateOutcome, UserService } from '../services/user.service';
import { UpdateMeInput } from './update-me.input';
import { UpdateUserInput } from './update-user.input';
import { UserConnection } from './user-connection.type';

const EXPECTED_VERSION_DESCRIPTION =
  'When given, the update is refused with CONFLICT (and the current version) unless the stored version equals it';
const DRY_RUN_DESCRIPTION =
  'When true, nothing is written: the answer (the user as it would be, changedFields, or the error) is what the ' +
  'same call would give now';

/** Notes what a mutation changed under its response key, so the response can say whether anything happened. */
function reportChanges(ctx: RequestContext, info: GraphQLResolveInfo, outcome: UpdateOutcome): User {
  (ctx.changedFields ??= {})[String(info.path.key)] = outcome.changedFields;
  return outcome.user;
}

@Resolver(() => User)
export class UserResolver {
  constructor(private readonly userService: UserService) {}

  @Authorized(Need.READ)
  @Query(() => User, { description: 'The caller' })
  me(@Ctx() ctx: RequestContext): User {
    return this.userService.me(ctx);
  }

  @Authorized(Need.READ)
  @Query(() => User, { nullable: true, description: "A user of the caller's organization" })
  user(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<User | null> {
    return this.userService.findById(ctx, id);
  }

  @Authorized(Need.READ)
  @Query(() => User, {
    nullable: true,
    description: "A user of the caller's organization, by the integer id document 003 uses",
  })
  userByNumericId(
    @Ctx() ctx: RequestContext,
    @Arg('numericId', () => Int) numericId: number,
  ): Promise<User | null> {
    return this.userService.findByNumericId(ctx, numericId);
  }

  @Authorized(Need.READ)
  @Query(() => UserConnection, { description: "The caller's organization, oldest first (admins only)" })
  async users(
    @Ctx() ctx: RequestContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<UserConnection> {
    const page = await this.userService.list(ctx, first, after);
    return {
      edges: page.users.map((node) => ({ node, cursor: encodeCursor('user', node.numericId) })),
      nodes: page.users,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }

  @Authorized(Need.WRITE)
  @Mutation(() => User, { description: "Updates the caller's own record" })
  async updateMe(
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Arg('input', () => UpdateMeInput) input: UpdateMeInput,
    @Arg('expectedVersion', () => Int, { nullable: true, description: EXPECTED_VERSION_DESCRIPTION })
    expectedVersion?: number | null,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false, description: DRY_RUN_DESCRIPTION })
    dryRun?: boolean | null,
  ): Promise<User> {
    const outcome = await this.userService.updateMe(ctx, input, { expectedVersion, dryRun: dryRun === true });
    return reportChanges(ctx, info, outcome);
  }

  @Authorized(Need.WRITE)
  @Mutation(() => User, {
    description: 'Updates a user: yourself, or anyone in your organization if you are an admin',
  })
  async updateUser(
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateUserInput) input: UpdateUserInput,
    @Arg('expectedVersion', () => Int, { nullable: true, description: EXPECTED_VERSION_DESCRIPTION })
    expectedVersion?: number | null,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false, description: DRY_RUN_DESCRIPTION })
    dryRun?: boolean | null,
  ): Promise<User> {
    const outcome = await this.userService.update(ctx, id, input, {
      expectedVersion,
      dryRun: dryRun === true,
    });
    return reportChanges(ctx, info, outcome);
  }
}

import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Authorized, Ctx, ID, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import { User } from '../entities/user.entity';
import { encodeCursor } from '../services/pagination';
import { AppError, BadUserInputError, ConflictError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { type BulkResult, type UpdateOutcome, UserService } from '../services/user.service';
import { validateInput } from '../services/validation/validate-input';
import { UpdateMeInput } from './update-me.input';
import { UpdateUserInput } from './update-user.input';
import { UserConnection } from './user-connection.type';
import { UpdateUsersItem, UpdateUsersItemError, UpdateUsersResult } from './update-users.types';

const EXPECTED_VERSION_DESCRIPTION =
  'When given, the update is refused with CONFLICT (and the current version) unless the stored version equals it';
const DRY_RUN_DESCRIPTION =
  'When true, nothing is written: the answer (the user as it would be, changedFields, or the error) is what the ' +
  'same call would give now';

/** Notes what a mutation changed under its response key, so the response can say whether anything happened. */
export function reportChanges(ctx: RequestContext, info: GraphQLResolveInfo, outcome: UpdateOutcome): User {
  (ctx.changedFields ??= {})[String(info.path.key)] = outcome.changedFields;
  return outcome.user;
}

/**
 * One item's answer. An unexpected failure is that item's too (masked, and logged by `logUnexpected`):
 * the other items may have landed, which failing the whole call would hide.
 */
function itemResult(result: BulkResult, logUnexpected: (error: unknown) => void): UpdateUsersResult {
  if ('outcome' in result) return { ...result.outcome, error: null };
  const error: UpdateUsersItemError = {
    code: 'NOT_APPLIED',
    message: 'Not applied: another item was refused',
    fields: [],
  };
  if ('refusal' in result) {
    const refusal = result.refusal;
    if (!(refusal instanceof AppError)) {
      logUnexpected(refusal);
      return {
        user: null,
        changedFields: null,
        error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error', fields: [] },
      };
    }
    error.code = refusal.code;
    error.message = refusal.message;
    if (refusal instanceof BadUserInputError) error.fields = refusal.fields;
    else if (refusal instanceof ConflictError && refusal.field) {
      error.fields = [{ field: refusal.field, message: refusal.message }];
      const { currentVersion } = refusal.extensions;
      if (typeof currentVersion === 'number') error.currentVersion = currentVersion;
    }
  }
  return { user: null, changedFields: null, error };
}

@Resolver(() => User)
export class UserResolver {
  constructor(
    private readonly userService: UserService,
    private readonly logError: (error: unknown, requestId?: string) => void,
  ) {}

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

  @Authorized(Need.WRITE)
  @Mutation(() => [UpdateUsersResult], {
    description:
      'Several updateUser calls in one: each item judged with the same rules, one result per item in order. ' +
      'atomic: all items are applied or none (the refused ones say why, the others are NOT_APPLIED).',
  })
  async updateUsers(
    @Ctx() ctx: RequestContext,
    @Arg('items', () => [UpdateUsersItem]) items: UpdateUsersItem[],
    @Arg('atomic', () => Boolean, { nullable: true, defaultValue: false }) atomic?: boolean | null,
  ): Promise<UpdateUsersResult[]> {
    // Each item's input is validated on its own, so that one invalid item is that item's error.
    const checked = await Promise.all(
      items.map(async (item) => {
        const patch = Object.assign(new UpdateUserInput(), item.input);
        const refusal = await validateInput(patch).then(
          () => undefined,
          (error: unknown) => error,
        );
        return { id: item.id, patch, expectedVersion: item.expectedVersion, refusal };
      }),
    );
    const results = await this.userService.updateMany(ctx, checked, { atomic: atomic === true });
    return results.map((result) => itemResult(result, (error) => this.logError(error, ctx.requestId)));
  }
}

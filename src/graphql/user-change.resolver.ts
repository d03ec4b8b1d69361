import { Arg, Authorized, Ctx, Field, ID, Int, ObjectType, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import { UserChange } from '../entities/user-change.entity';
import { encodeCursor } from '../services/pagination';
import { spelledChanges } from '../services/user-events';
import { UserHistoryService } from '../services/user-history.service';
import { PageInfo } from './user-connection.type';

@ObjectType()
export class UserChangeEdge {
  @Field()
  cursor: string;

  @Field(() => UserChange)
  node: UserChange;
}

/** A page of a user's change history, newest first. */
@ObjectType()
export class UserChangeConnection {
  @Field(() => [UserChangeEdge])
  edges: UserChangeEdge[];

  @Field(() => [UserChange])
  nodes: UserChange[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

@Resolver(() => UserChange)
export class UserChangeResolver {
  constructor(private readonly history: UserHistoryService) {}

  @Authorized(Need.READ)
  @Query(() => UserChangeConnection, {
    description: "A user's change history, newest first (admins of the user's organization)",
  })
  async userChanges(
    @Ctx() ctx: RequestContext,
    @Arg('userId', () => ID) userId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<UserChangeConnection> {
    const page = await this.history.list(ctx, userId, first, after);
    // Enum values as every other read spells them (User.role, the events): MEMBER, not member.
    const nodes = page.changes.map((change) =>
      Object.assign(new UserChange(), change, { changes: spelledChanges(change.changes) }),
    );
    return {
      edges: nodes.map((node) => ({ node, cursor: encodeCursor('change', node.seq) })),
      nodes,
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }
}

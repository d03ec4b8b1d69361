import { Field, ObjectType } from 'type-graphql';
import { User } from '../entities/user.entity';

@ObjectType()
export class UserEdge {
  @Field()
  cursor: string;

  @Field(() => User)
  node: User;
}

@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

/** A cursor-paginated page of users (Relay connection shape). */
@ObjectType()
export class UserConnection {
  @Field(() => [UserEdge])
  edges: UserEdge[];

  @Field(() => [User])
  nodes: User[];

  @Field(() => PageInfo)
  pageInfo: PageInfo;
}

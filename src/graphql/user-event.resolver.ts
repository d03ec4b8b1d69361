import { GraphQLDateTimeISO, GraphQLJSONObject } from 'graphql-scalars';
import { Arg, Authorized, Ctx, Field, ID, Int, ObjectType, Resolver, Root, Subscription } from 'type-graphql';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import { Role } from '../entities/enums';
import { couldBeIssuedId } from '../auth/secrets';
import { ForbiddenError, NotFoundError, UnauthenticatedError } from '../errors/app-error';
import { decodeCursor, encodeCursor } from '../services/pagination';
import type { FeedEvent, FeedFilter } from '../services/user-event-feed';
import { maySeePendingEmail } from './email-change.resolver';

/** The feed's one topic: what a subscriber gets is decided by its filter (the topic id). */
const USER_EVENTS = 'user-events';

@ObjectType({ description: 'A committed change of a user, as webhooks deliver it' })
class UserChangeEvent {
  @Field(() => ID, { description: 'evt_…, the webhook-id of the same event' }) id!: string;
  @Field({ description: 'user.created, user.updated, user.deactivated or user.reactivated' }) type!: string;
  @Field(() => GraphQLDateTimeISO) occurredAt!: string;
  @Field({
    description:
      'Resume organizationUserChanges after this event (after: cursor); an event committed late is not missed, and some may come again (tell them by id)',
  })
  cursor!: string;
  @Field(() => ID) userId!: string;
  @Field(() => Int, {
    description: 'The user’s version after the change (resume userChanged with after: version)',
  })
  version!: number;
  @Field(() => GraphQLJSONObject, { description: 'The user after the change, as users:read reads it' })
  user!: Record<string, unknown>;
  @Field(() => GraphQLJSONObject, { description: '{ field: { before, after } }' }) changes!: Record<
    string,
    unknown
  >;
  @Field(() => GraphQLJSONObject, { description: '{ userId, credentialId }' }) actor!: Record<
    string,
    unknown
  >;
  @Field() requestId!: string;
}

function eventOf(row: FeedEvent): UserChangeEvent {
  const payload = JSON.parse(row.payload);
  return {
    id: row.id,
    type: payload.type,
    occurredAt: payload.occurredAt,
    cursor: encodeCursor('event', row.resumeSeq ?? row.seq),
    userId: row.userId,
    version: row.userVersion,
    user: payload.user,
    changes: payload.changes,
    actor: payload.actor,
    requestId: payload.requestId,
  };
}

/** The event as the subscriber may see it: without a pending email that is not theirs to see. */
function withoutPending(event: UserChangeEvent, row: FeedEvent, context: RequestContext): UserChangeEvent {
  if (maySeePendingEmail(context, { id: row.userId, organizationId: row.organizationId })) return event;
  const { pendingEmail: _email, pendingEmailExpiresAt: _expiry, ...changes } = event.changes;
  return { ...event, changes };
}

function callerOf(context: RequestContext) {
  const caller = context.principal?.user;
  if (!caller) throw new UnauthenticatedError();
  return caller;
}

/** Live changes over WebSocket (graphql-ws), with the rights of the matching queries, resumable. */
@Resolver()
export class UserEventResolver {
  @Authorized(Need.READ)
  @Subscription(() => UserChangeEvent, {
    topics: USER_EVENTS,
    topicId: ({ args, context }): FeedFilter => {
      const caller = callerOf(context as RequestContext);
      const userId = (args.userId as string | null) ?? caller.id;
      // An id no user could have (a NUL byte, which PostgreSQL refuses in text) is not looked up.
      if (!couldBeIssuedId(userId)) throw new NotFoundError('User not found');
      // Another user's past changes are their history, which admins read (userChanges); anyone of the
      // organization may follow what changes from now on.
      if (args.after != null && userId !== caller.id && caller.role !== Role.ADMIN)
        throw new ForbiddenError("Only admins read another user's past changes: subscribe without after");
      // Another organization's user has no events here, as it has no record (user(id) is null).
      return {
        organizationId: caller.organizationId,
        userId,
        afterVersion: (args.after as number | null) ?? null,
      };
    },
    description:
      'Changes of one user of your organization (default: you), as they commit; after: a version, to get the later ones first',
  })
  userChanged(
    @Root() event: FeedEvent,
    @Ctx() context: RequestContext,
    @Arg('userId', () => ID, { nullable: true }) _userId?: string | null,
    @Arg('after', () => Int, { nullable: true }) _after?: number | null,
  ): UserChangeEvent {
    return withoutPending(eventOf(event), event, context);
  }

  @Authorized(Need.READ)
  @Subscription(() => UserChangeEvent, {
    topics: USER_EVENTS,
    topicId: ({ args, context }): FeedFilter => {
      const caller = callerOf(context as RequestContext);
      if (caller.role !== Role.ADMIN) throw new ForbiddenError('Only admins follow the whole organization');
      const after = args.after as string | null | undefined;
      return { organizationId: caller.organizationId, afterSeq: after ? decodeCursor('event', after) : null };
    },
    description:
      "Changes of every user of your organization as they commit (admins); after: an event's cursor, to get the later ones first",
  })
  organizationUserChanges(
    @Root() event: FeedEvent,
    @Arg('after', () => String, { nullable: true }) _after?: string | null,
  ): UserChangeEvent {
    return eventOf(event);
  }
}

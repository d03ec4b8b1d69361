import { GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema, ContainerType } from 'type-graphql';
import { authChecker } from '../auth/auth-checker';
import { validateInput } from '../services/validation/validate-input';
import type { UserHistoryService } from '../services/user-history.service';
import type { UserService } from '../services/user.service';
import { EmailChangeResolver } from './email-change.resolver';
import { UserChangeResolver } from './user-change.resolver';
import { UserResolver } from './user.resolver';
import { WebhookResolver } from './webhook.resolver';
import { UserEventResolver } from './user-event.resolver';
import type { UserEventFeed } from '../services/user-event-feed';
import type { WebhookService } from '../services/webhook.service';

export interface SchemaServices {
  users: UserService;
  history: UserHistoryService;
  webhooks: WebhookService;
  /** Where subscriptions get their events (type-graphql's PubSub). */
  feed: UserEventFeed;
  /** Where an unexpected failure of one item of updateUsers goes (it is that item's error). */
  logError?: (error: unknown, requestId?: string) => void;
}

/** Builds the executable schema with resolvers bound to this app's services. */
export async function buildAppSchema(services: SchemaServices): Promise<GraphQLSchema> {
  const instances = new Map<unknown, unknown>([
    [UserResolver, new UserResolver(services.users, services.logError ?? (() => undefined))],
    [UserChangeResolver, new UserChangeResolver(services.history)],
    [EmailChangeResolver, new EmailChangeResolver(services.users)],
    [WebhookResolver, new WebhookResolver(services.webhooks)],
    [UserEventResolver, new UserEventResolver()],
  ]);
  const container: ContainerType = { get: (someClass) => instances.get(someClass) };
  return buildSchema({
    resolvers: [UserResolver, UserChangeResolver, EmailChangeResolver, WebhookResolver, UserEventResolver],
    pubSub: services.feed,
    container,
    authChecker,
    authMode: 'error',
    // Validation is on (it is off by default in type-graphql 2): every input object goes through
    // class-validator, and all invalid fields come back in one BAD_USER_INPUT.
    validateFn: async (argValue) => {
      if (argValue !== null && typeof argValue === 'object' && !Array.isArray(argValue))
        await validateInput(argValue);
    },
  });
}

/** The committed `schema.graphql` text: sorted, so it changes only when the API does. */
export function renderSchema(schema: GraphQLSchema): string {
  return (
    '# Generated from the code by `npm run schema`; a test fails when this file drifts.\n\n' +
    printSchema(lexicographicSortSchema(schema)) +
    '\n'
  );
}

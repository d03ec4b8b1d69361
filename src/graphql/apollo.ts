import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { RequestContext } from '../auth/principal';
import type { Config } from '../config';
import { formatError, withoutSuggestions } from '../errors/format-error';
import type { RateLimits } from '../limits/rate-limits';
import type { Metrics } from '../observability/metrics';
import type { UserHistoryService } from '../services/user-history.service';
import type { WebhookService } from '../services/webhook.service';
import type { UserEventFeed } from '../services/user-event-feed';
import type { GraphQLSchema, ValidationRule } from 'graphql';
import type { UserService } from '../services/user.service';
import {
  changedFieldsPlugin,
  operationMetricsPlugin,
  unexpectedErrorsPlugin,
  writeBudgetPlugin,
} from './plugins';
import { buildAppSchema } from './schema';

export interface ApolloDeps {
  config: Config;
  users: UserService;
  history: UserHistoryService;
  webhooks: WebhookService;
  feed: UserEventFeed;
  limits: RateLimits;
  metrics: Metrics;
  logError: (error: unknown, requestId?: string) => void;
}

/**
 * The started Apollo server: the schema, its limits (graphql-armor and the parser's) and the plugins;
 * the schema and validation rules also serve subscriptions (subscriptions.ts).
 */
export async function createApollo(deps: ApolloDeps): Promise<{
  apollo: ApolloServer<RequestContext>;
  schema: GraphQLSchema;
  validationRules: ValidationRule[];
}> {
  const { config } = deps;
  const schema = await buildAppSchema({
    users: deps.users,
    history: deps.history,
    webhooks: deps.webhooks,
    feed: deps.feed,
    logError: deps.logError,
  });
  const armor = new ApolloArmor({
    // Depth as the selections nest, a named fragment's spread adding no level of its own.
    maxDepth: { n: config.graphql.maxDepth, flattenFragments: true },
    maxAliases: { n: config.graphql.maxAliases },
    maxDirectives: { n: config.graphql.maxDirectives },
    // graphql-armor's token plugin throws from parsingDidStart, which Apollo answers with 500; the
    // parser's own limit (parseOptions below) refuses the same documents as a 400 syntax error.
    maxTokens: { enabled: false },
    costLimit: { maxCost: config.graphql.maxCost },
    blockFieldSuggestion: { enabled: !config.graphql.fieldSuggestions },
  }).protect();
  const apollo = new ApolloServer<RequestContext>({
    schema,
    introspection: config.introspection,
    parseOptions: { maxTokens: config.graphql.maxTokens },
    includeStacktraceInErrorResponses: false,
    // graphql-armor hides the suggestions of field names; Apollo's own option those of enum values
    // and variables' types.
    hideSchemaDetailsFromClientErrors: !config.graphql.fieldSuggestions,
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    // main stops Apollo itself after the HTTP server has drained; Apollo's own SIGTERM handler would
    // stop it while requests are still in flight.
    stopOnTerminationSignals: false,
    formatError: config.graphql.fieldSuggestions
      ? formatError
      : (formatted, error) => formatError(withoutSuggestions(formatted), error),
    validationRules: armor.validationRules,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // No field carries a cache hint, so Apollo's cache-control plugin never sets a header; left on,
      // its per-field hook makes Apollo wrap every resolver of the schema and call it for each field.
      ApolloServerPluginCacheControlDisabled(),
      ...armor.plugins,
      writeBudgetPlugin(deps.limits, config.bulkUpdateMaxItems),
      changedFieldsPlugin,
      unexpectedErrorsPlugin(deps.logError),
      operationMetricsPlugin(deps.metrics),
    ],
  });
  await apollo.start();
  return { apollo, schema, validationRules: armor.validationRules as ValidationRule[] };
}

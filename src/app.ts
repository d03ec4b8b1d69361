import type { ApolloServer } from '@apollo/server';
import type { DataSource } from 'typeorm';
import type { RequestContext } from './auth/principal';
import { RequestAuthenticator } from './auth/request-authenticator';
import type { Config } from './config';
import { addExplorerRoutes } from './explorer/explorer';
import { createApollo } from './graphql/apollo';
import { graphqlRoutes } from './graphql/graphql.route';
import { createEntry, type Handler } from './http/entry';
import { RouteTable } from './http/router';
import { RateLimits } from './limits/rate-limits';
import type { Server } from 'node:http';
import { attachSubscriptions } from './graphql/subscriptions';
import { MailSender } from './mail/mail-sender';
import { WebhookSender } from './webhooks/webhook-sender';
import { createMailTransport } from './mail/mail-transport';
import { createLogger, createRequestLogger, errorLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { addOperationsRoutes } from './observability/operations.routes';
import { addRestRoutes } from './rest/routes';
import { createServices, type Services } from './services';

export { createServices, type Services } from './services';

export interface App {
  /** The request handler: one route table for every path. */
  app: Handler;
  /** The route table, as built (its templates are what the server answers). */
  routes: RouteTable;
  apollo: ApolloServer<RequestContext>;
  services: Services;
  logger: Logger;
  /**
   * Serves GraphQL subscriptions (WebSocket) at /graphql on the HTTP server the handler runs on; what it
   * returns closes them (their sockets would keep the HTTP server from closing).
   */
  attach(server: Server): () => Promise<void>;
  /** Stops subscriptions, the webhook and mail senders, Apollo, the rate-limit store and the database connections of the services; the caller closes the HTTP server and the data source. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** Where unexpected errors go, with the id of the request they broke (defaults to the logger). */
  logError?: (error: unknown, requestId?: string) => void;
  logger?: Logger;
}

/** Builds the HTTP app on an initialised, migrated data source. Tests build it exactly as main does. */
export async function createApp(
  config: Config,
  dataSource: DataSource,
  options: AppOptions = {},
): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const logError = options.logError ?? errorLogger(logger);
  const services = createServices(config, dataSource, (message, error) =>
    logger.warn({ err: error }, message),
  );
  const limits = new RateLimits(config, logger);
  const authenticator = new RequestAuthenticator(services.credentials, limits);
  const metrics = new Metrics(services.db);
  const mailSender = new MailSender(services.mail, createMailTransport(config, logger), config.mail, logger);
  const webhookSender = new WebhookSender(
    services.events,
    { ...config.webhooks, httpsOnly: config.production, pollIntervalMs: config.events.pollIntervalMs },
    logger,
  );
  const { apollo, schema, validationRules } = await createApollo({
    config,
    users: services.users,
    history: services.history,
    webhooks: services.webhooks,
    feed: services.feed,
    limits,
    metrics,
    logError,
  });

  const closeSubscriptions: Array<() => Promise<void>> = [];
  const routes = new RouteTable();
  const explorer = addExplorerRoutes(routes, { enabled: config.explorerEnabled });
  routes.add(
    '/graphql',
    graphqlRoutes({
      apollo,
      authenticator,
      idempotency: services.idempotency,
      bodyLimitBytes: config.bodyLimitBytes,
      explorer,
      logError,
    }),
  );
  addRestRoutes(routes, {
    apollo,
    authenticator,
    idempotency: services.idempotency,
    bodyLimitBytes: config.bodyLimitBytes,
    logError,
  });
  addOperationsRoutes(routes, { db: services.db, metrics, config });

  const logRequest = createRequestLogger(logger);
  const app = createEntry({
    table: routes,
    logError,
    finished: (req, res, { route, requestId, milliseconds }) => {
      logRequest(req, res, requestId, milliseconds);
      // A response cut off before its end (the client went away) has a log line but is not counted.
      if (config.metricsEnabled && res.writableFinished) {
        metrics.recordRequest(req.method ?? '', route, res.statusCode, milliseconds / 1000);
      }
    },
  });

  mailSender.start();
  webhookSender.start();
  return {
    app,
    routes,
    apollo,
    services,
    logger,
    attach: (server) => {
      const close = attachSubscriptions(server, {
        schema,
        validationRules,
        authenticator,
        maxPayloadBytes: config.bodyLimitBytes,
        maxTokens: config.graphql.maxTokens,
        fieldSuggestions: config.graphql.fieldSuggestions,
        limits: config.subscriptions,
        publicUrl: config.mail.publicUrl,
        logError,
      });
      let closing: Promise<void> | null = null;
      const once = () => (closing ??= close());
      closeSubscriptions.push(once);
      return once;
    },
    stop: async () => {
      for (const close of closeSubscriptions.splice(0)) await close();
      services.feed.close();
      await webhookSender.stop();
      await mailSender.stop();
      await apollo.stop();
      await limits.close();
      await services.db.close();
    },
  };
}

import { ApolloServer, HeaderMap } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import type { DataSource } from 'typeorm';
import type { Config } from './config';
import { JwtCodec, loadJwtSecret } from './auth/jwt';
import { extractCredential } from './auth/presented-credential';
import type { RequestContext } from './auth/principal';
import { Database } from './db/database';
import { AppError, RateLimitedError, UnauthenticatedError } from './errors/app-error';
import { httpStatusOf } from './errors/error-code';
import { formatError } from './errors/format-error';
import { RequestAuthenticator, requestIdFrom } from './graphql/context';
import {
  changedFieldsPlugin,
  operationMetricsPlugin,
  unexpectedErrorsPlugin,
  writeBudgetPlugin,
} from './graphql/plugins';
import { RateLimits } from './limits/rate-limits';
import { createLogger, createRequestLogger, errorLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { IdempotencyService } from './services/idempotency.service';
import { createExplorerRouter } from './explorer/explorer';
import { buildAppSchema } from './graphql/schema';
import { graphqlRoute, type Handler, hotLane, sendText } from './http/hot-lane';
import { createRestHotRoute, createRestRouter } from './rest/rest-router';
import { CredentialService } from './services/credential.service';
import { OrganizationService } from './services/organization.service';
import { UserHistoryService } from './services/user-history.service';
import { UserService } from './services/user.service';

export interface Services {
  db: Database;
  users: UserService;
  organizations: OrganizationService;
  credentials: CredentialService;
  history: UserHistoryService;
  idempotency: IdempotencyService;
}

/** Wires the services to an initialised data source; the CLI uses this too. */
export function createServices(config: Config, dataSource: DataSource): Services {
  const db = new Database(dataSource);
  const jwt = new JwtCodec(loadJwtSecret(config), config.jwt);
  return {
    db,
    users: new UserService(db),
    organizations: new OrganizationService(db),
    credentials: new CredentialService(db, jwt, config.jwt.defaultTtlSeconds),
    history: new UserHistoryService(db),
    idempotency: new IdempotencyService(db, config.idempotency.abandonedAfterSeconds),
  };
}

export interface App {
  /** The request handler: the hot lane for API writes, Express for everything else. */
  app: Handler;
  apollo: ApolloServer<RequestContext>;
  services: Services;
  logger: Logger;
  /** Stops Apollo, the rate-limit store and the hot-path connections; the caller closes the HTTP server and the data source. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** Where unexpected errors go, with the id of the request they broke (defaults to the logger). */
  logError?: (error: unknown, requestId?: string) => void;
  logger?: Logger;
}

/** An authentication failure raised while building the context: Apollo answers it with this status. */
function withHttpStatus(error: AppError): AppError {
  const headers = new HeaderMap();
  if (error instanceof UnauthenticatedError) headers.set('www-authenticate', 'Bearer');
  if (error instanceof RateLimitedError) {
    for (const [name, value] of Object.entries(error.headers)) headers.set(name.toLowerCase(), value);
  }
  Object.assign(error.extensions, { http: { status: httpStatusOf(error.code), headers } });
  return error;
}

/** Builds the HTTP app: /graphql, health checks. Tests build it exactly as main does. */
export async function createApp(
  config: Config,
  dataSource: DataSource,
  options: AppOptions = {},
): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const logError = options.logError ?? errorLogger(logger);
  const services = createServices(config, dataSource);
  const limits = new RateLimits(config);
  const authenticator = new RequestAuthenticator(services.credentials, limits);
  const metrics = new Metrics(services.db);
  const schema = await buildAppSchema({ users: services.users, history: services.history });
  const armor = new ApolloArmor({
    maxDepth: { n: config.graphql.maxDepth },
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
    allowBatchedHttpRequests: false,
    csrfPrevention: true,
    formatError,
    validationRules: armor.validationRules,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // No field carries a cache hint, so Apollo's cache-control plugin never sets a header; left on,
      // its per-field hook makes Apollo wrap every resolver of the schema and call it for each field.
      ApolloServerPluginCacheControlDisabled(),
      ...armor.plugins,
      writeBudgetPlugin(limits),
      changedFieldsPlugin,
      unexpectedErrorsPlugin(logError),
      operationMetricsPlugin(metrics),
    ],
  });
  await apollo.start();

  /** The JSON error answer of a request Express or the hot lane could not take in. */
  const sendRequestError = (res: ServerResponse, status: number) => {
    const message =
      status === 413
        ? `Request body is larger than ${config.bodyLimitBytes} bytes`
        : status === 500
          ? 'Internal server error'
          : 'Malformed request body';
    const body = {
      errors: [{ message, extensions: { code: status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST' } }],
    };
    sendText(res, status, [['content-type', 'application/json; charset=utf-8']], JSON.stringify(body));
  };

  const graphqlContext = async (req: IncomingMessage, res: ServerResponse): Promise<RequestContext> => {
    const requestId = String(res.getHeader('x-request-id'));
    try {
      return await authenticator.authenticate(
        extractCredential(req),
        requestId,
        req.socket.remoteAddress ?? 'unknown',
      );
    } catch (error) {
      if (error instanceof AppError) throw withHttpStatus(error);
      // Apollo answers it as an internal error; the request id is only known here.
      logError(error, requestId);
      throw error;
    }
  };

  const logRequest = createRequestLogger(logger);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  /**
   * What every request gets first, on either path: its request id, and one hook for its end that
   * writes its log line and, once it was answered, its metrics. One `close` listener does both: with
   * the metrics on `finish` beside it, measured under load (bench/README.md, fifth round), V8 moved far
   * more of each finished request into its old generation (0.48 MB per scavenge against 0.11).
   */
  const firstSteps = (req: IncomingMessage, res: ServerResponse, route: string | (() => string)) => {
    res.setHeader('x-request-id', requestIdFrom(req.headers['x-request-id']));
    const started = performance.now();
    res.once('close', () => {
      const milliseconds = performance.now() - started;
      logRequest(req, res, milliseconds);
      // A response cut off before its end (the client went away) has a log line but is not counted.
      if (config.metricsEnabled && res.writableFinished) {
        const template = typeof route === 'string' ? route : route();
        metrics.recordRequest(req.method ?? '', template, res.statusCode, milliseconds / 1000);
      }
    });
  };
  app.use((req, res, next) => {
    firstSteps(req, res, () => Metrics.routeOf(req));
    next();
  });
  // The explorer only answers GET (GraphiQL shares /graphql with Apollo); other requests skip its routes.
  const explorer = createExplorerRouter({ enabled: config.explorerEnabled });
  app.use((req, res, next) =>
    req.method === 'GET' || req.method === 'HEAD' ? explorer(req, res, next) : next(),
  );

  app.use(
    '/graphql',
    express.json({ limit: config.bodyLimitBytes }),
    expressMiddleware(apollo, { context: ({ req, res }) => graphqlContext(req, res) }),
  );

  const restDeps = {
    apollo,
    authenticator,
    idempotency: services.idempotency,
    bodyLimitBytes: config.bodyLimitBytes,
    logError,
  };
  app.use(createRestRouter(restDeps));

  // After the API routes, so that API requests do not walk past these on every call.
  if (config.metricsEnabled) {
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await services.db.read((m) => m.query('SELECT 1'));
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });

  const onError: ErrorRequestHandler = (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    const status =
      typeof error?.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) logError(error, String(res.getHeader('x-request-id')));
    sendRequestError(res, status);
  };
  app.use(onError);

  // API writes in plain JSON skip Express (see http/hot-lane.ts), with the same first steps.
  const handler = hotLane({
    routes: [
      graphqlRoute({
        apollo,
        bodyLimitBytes: config.bodyLimitBytes,
        context: graphqlContext,
        malformedBody: (res) => sendRequestError(res, 400),
        failed: (error, _req, res) => {
          logError(error, String(res.getHeader('x-request-id')));
          if (!res.headersSent) sendRequestError(res, 500);
          else res.destroy();
        },
      }),
      createRestHotRoute(restDeps),
    ],
    fallback: app,
    before: firstSteps,
  });

  return {
    app: handler,
    apollo,
    services,
    logger,
    stop: async () => {
      await apollo.stop();
      await limits.close();
      await services.db.close();
    },
  };
}

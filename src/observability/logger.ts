import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';
import { pinoHttp, type HttpLogger } from 'pino-http';

export type { Logger };

/**
 * Errors without what they carry from the request: a database error's bound parameters (and
 * PostgreSQL's `detail`, "Failing row contains …") are the values a client sent.
 */
function errorWithoutValues(error: Error): Record<string, unknown> {
  const {
    parameters: _parameters,
    detail: _detail,
    driverError,
    ...rest
  } = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  if (driverError && typeof driverError === 'object') {
    const { type, message, code } = driverError as Record<string, unknown>;
    rest.driverError = { type, message, code };
  }
  return rest;
}

/**
 * JSON lines on stdout (or `destination`, which tests use to read the lines the server really writes).
 * Nothing that identifies a credential or carries a request body is ever logged.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'users-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: errorWithoutValues },
    redact: { paths: ['req.headers', 'res.headers', '*.authorization', '*.cookie', '*.token'], remove: true },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** The path as the client sent it (Express rewrites `url` inside mounted apps such as /graphql). */
function pathOnly(req: { url?: string; originalUrl?: string }): string {
  return (req.originalUrl ?? req.url ?? '').split('?')[0].slice(0, 512);
}

/** The logger of the request being handled (bound to its request id), for code that has no `req`. */
const requestScope = new AsyncLocalStorage<Logger>();

/** The current request's logger, so that a line logged deep inside a request names its request id. */
export function currentLogger(fallback: Logger): Logger {
  return requestScope.getStore() ?? fallback;
}

/**
 * Re-enters the request's scope; needed after callback-style middleware (body parsers), whose
 * callbacks run outside the request's async context.
 */
export function requestScoped(
  req: IncomingMessage & { log?: Logger },
  _res: unknown,
  next: () => void,
): void {
  if (req.log) requestScope.run(req.log, next);
  else next();
}

/** One line per request with the request id; headers, query strings and bodies are left out. */
export function createRequestLogger(logger: Logger) {
  const httpLogger = requestLineLogger(logger);
  return (req: IncomingMessage, res: ServerResponse, next: () => void) =>
    httpLogger(req, res, () => requestScoped(req, res, next));
}

function requestLineLogger(logger: Logger): HttpLogger<IncomingMessage, ServerResponse> {
  return pinoHttp({
    logger,
    genReqId: (_req, res) => String(res.getHeader('x-request-id')),
    // Binds the id into req.log itself (not only into the `req` object), so every line carries it.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    serializers: {
      req: (req: { method?: string; url?: string; originalUrl?: string }) => ({
        method: req.method,
        path: pathOnly(req),
      }),
      res: (res: { statusCode?: number }) => ({ status: res.statusCode }),
      err: errorWithoutValues,
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessMessage: (req, res) => `${req.method} ${pathOnly(req)} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${pathOnly(req)} ${res.statusCode}`,
  });
}

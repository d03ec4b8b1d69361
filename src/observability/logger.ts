import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type DestinationStream, type Logger } from 'pino';

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

/** What every line carries, and how it is written. */
function lineOptions(level: string): pino.LoggerOptions {
  return {
    level,
    base: { service: 'users-api' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: errorWithoutValues },
  };
}

/**
 * JSON lines on stdout (or `destination`, which tests use to read the lines the server really writes).
 * Nothing that identifies a credential or carries a request body is ever logged.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    ...lineOptions(level),
    redact: { paths: ['req.headers', 'res.headers', '*.authorization', '*.cookie', '*.token'], remove: true },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * The server's own start-up and shutdown lines (the address it listens on, the demo token shown only
 * once, the signal it stops on, a failed start): JSON lines like every other, at info (fatal for a
 * failed start), written whatever LOG_LEVEL says, because an operator needs them to use the server
 * (PORT=0 picks the port) and a process manager to see it stop.
 */
export function createLifecycleLogger(destination?: DestinationStream): Logger {
  const options = lineOptions('info');
  return destination ? pino(options, destination) : pino(options);
}

/** The path as the client sent it (Express rewrites `url` inside mounted apps such as /graphql). */
function pathOnly(req: { url?: string; originalUrl?: string }): string {
  return (req.originalUrl ?? req.url ?? '').split('?')[0].slice(0, 512);
}

/**
 * One line per request with the request id, method, path, status and time; headers, query strings and
 * bodies are left out. Called by the request's end hook (app.ts) with the time it took, straight to the
 * logger: no per-request child logger and no async-context tracking (AsyncLocalStorage's promise hooks
 * would cost every request a little on every promise); code that logs for a request passes its id along
 * instead.
 */
export function createRequestLogger(logger: Logger) {
  // The request line is built here from the method, the path, the status and the time alone, so it
  // goes to the same stream through a logger without the redaction pass (which walks every line).
  const lines = pino(
    lineOptions(logger.level),
    (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym],
  );
  return (req: IncomingMessage, res: ServerResponse, requestId: string, milliseconds: number) => {
    // A request cut off before its answer began has no status (statusCode is 200 until one is set).
    const status = res.headersSent ? res.statusCode : null;
    const line = {
      requestId,
      req: { method: req.method, path: pathOnly(req) },
      res: { status },
      responseTime: Math.round(milliseconds),
      ...(res.writableFinished ? {} : { aborted: true }),
    };
    const message = `${req.method} ${line.req.path} ${status ?? '-'}${res.writableFinished ? '' : ' (aborted)'}`;
    if (status !== null && status >= 500) lines.error(line, message);
    else lines.info(line, message);
  };
}

/** Logs an unexpected error at error level, naming the request it broke when there is one. */
export function errorLogger(logger: Logger): (error: unknown, requestId?: string) => void {
  return (error, requestId) => logger.error({ err: error, requestId }, 'unexpected error');
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './answer';
import { requestIdFrom } from './request-id';
import type { RouteRequest, RouteTable } from './router';

/** A request handler on plain node:http objects. */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the entry reports of each request once its connection is done with it. */
export interface FinishedRequest {
  /** The route template ("/v1/users/:user_id"), or "unmatched". */
  route: string;
  requestId: string;
  milliseconds: number;
}

export interface EntryOptions {
  table: RouteTable;
  /** The request's log line and metrics. */
  finished(req: IncomingMessage, res: ServerResponse, request: FinishedRequest): void;
  logError(error: unknown, requestId?: string): void;
}

/**
 * The one entry for every request: its request id, the one route-table lookup, the handler, and the
 * answers nobody else gives (no route: 404; a handler that failed before answering: 500).
 */
export function createEntry({ table, finished, logError }: EntryOptions): Handler {
  return (req, res) => {
    const started = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.setHeader('x-request-id', requestId);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const match = table.match(path);
    // One `close` listener for the log line and the metrics: it fires for answered and cut-off requests alike.
    res.once('close', () =>
      finished(req, res, {
        route: match?.entry.template ?? 'unmatched',
        requestId,
        milliseconds: performance.now() - started,
      }),
    );
    if (!match) {
      sendJson(res, 404, {
        error: 'not_found',
        message: `Nothing here answers ${req.method} ${path}: GraphQL is at /graphql, the REST endpoints are described at /openapi.json and /docs`,
      });
      return;
    }
    const request: RouteRequest = {
      req,
      res,
      params: match.params,
      search: query === -1 ? '' : url.slice(query),
      path,
      requestId,
    };
    const failed = (error: unknown) => {
      logError(error, requestId);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error', message: 'Internal server error' });
      else res.destroy();
    };
    try {
      const running = table.run(match, request);
      if (running) running.catch(failed);
    } catch (error) {
      failed(error);
    }
  };
}

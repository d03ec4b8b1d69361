import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import { type HotMatch, type HotRoute, plainJsonLength, sendText } from '../http/hot-lane';
import type { RequestContext } from '../auth/principal';
import { ErrorCode } from '../errors/error-code';
import { requestIdFrom, type RequestAuthenticator } from '../graphql/context';
import { NO_VERSION_MATCHES, parseIfMatch } from './if-match';
import {
  IDEMPOTENCY_KEY,
  type IdempotencyService,
  requestFingerprint,
} from '../services/idempotency.service';
import { authenticateFor, type CredentialRule } from './credential-rule';
import { type EndpointId, errorBody, restStatusOf } from './error-table';
import { renameFailure, type FieldSpec } from './field-map';
import { type Exchange, graphqlCaller, type GraphqlCaller } from './graphql-call';
import { readJsonObject, type JsonObject } from './json-body';
import { RestFailure, TransportFailure } from './rest-failure';

/** What every shim module needs from the app. */
export interface RestDeps {
  apollo: ApolloServer<RequestContext>;
  authenticator: RequestAuthenticator;
  idempotency: IdempotencyService;
  bodyLimitBytes: number;
  logError: (error: unknown, requestId?: string) => void;
}

/** One request as a shim module sees it: path parameters and GraphQL as the authenticated caller. */
export interface ShimCall {
  params: Record<string, string>;
  graphql: GraphqlCaller;
  /** Who the credential belongs to, as authentication read it (null without one). */
  caller: { id: string; numericId: number } | null;
}

export interface ShimResult {
  status?: number;
  body: unknown;
}

/** A documented endpoint: its paths, credential rule, field names, and its read and write mappings. */
export interface EndpointDefinition {
  id: EndpointId;
  paths: readonly string[];
  credential: CredentialRule;
  /** Body fields, also used to rename fields in GraphQL errors back to the documented names. */
  fields: readonly FieldSpec[];
  read(call: ShimCall): Promise<ShimResult>;
  write: {
    method: 'put' | 'patch' | 'post';
    mediaTypes?: readonly string[];
    handle(call: ShimCall, body: JsonObject): Promise<ShimResult>;
  };
}

/** A JSON answer, with the headers Express's `res.json` would give it. */
function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, text: string): void {
  sendText(
    res,
    status,
    Object.entries({ ...headers, 'Content-Type': 'application/json; charset=utf-8' }),
    text,
  );
}

function sendFailure(
  res: ServerResponse,
  endpoint: EndpointDefinition,
  failure: RestFailure,
  headers: Record<string, string> = {},
): void {
  const status = restStatusOf(failure.kind);
  const all: Record<string, string> = { ...headers, ...failure.headers };
  if (status === 401) all['WWW-Authenticate'] = endpoint.credential.challenge;
  sendJson(res, status, all, JSON.stringify(errorBody(endpoint.id, renameFailure(failure, endpoint.fields))));
}

/**
 * The version every mutation of this write is sent with as `expectedVersion`, from If-Match: none for
 * `*` or no header; the one version a list names; with several, the one that is current (read first;
 * the write still checks it). A list that names no current version expects one that never matches, so
 * the write is refused as stale (412) after the checks that come before it (404, 401, 403, 400).
 */
async function expectedVersionFor(
  req: IncomingMessage,
  endpoint: EndpointDefinition,
  call: ShimCall,
  exchange: Exchange,
): Promise<number | undefined> {
  const ifMatch = parseIfMatch(req.headers['if-match']);
  if (ifMatch.kind === 'any') return undefined;
  if (ifMatch.versions.length === 1) return ifMatch.versions[0];
  if (ifMatch.versions.length === 0) return NO_VERSION_MATCHES;
  await endpoint.read(call);
  const current = exchange.version;
  return current !== undefined && ifMatch.versions.includes(current) ? current : NO_VERSION_MATCHES;
}

function idempotencyKeyFrom(req: IncomingMessage): string | undefined {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw RestFailure.badInput(
      [{ field: 'Idempotency-Key', message: 'Idempotency-Key must be 1 to 255 printable ASCII characters' }],
      'Invalid Idempotency-Key header',
    );
  }
  return key;
}

function allowed(endpoint: EndpointDefinition): string {
  return ['GET', 'HEAD', endpoint.write.method.toUpperCase(), 'OPTIONS'].join(', ');
}

/**
 * One endpoint's answer to a read (GET) or its write, on plain node:http objects, so that both Express
 * and the hot lane (hotRoutes) can run it; `path` is the request path without the query.
 */
function endpointHandler(endpoint: EndpointDefinition, deps: RestDeps, write: boolean) {
  return async (
    req: IncomingMessage,
    res: ServerResponse,
    params: Record<string, string>,
    path: string,
  ): Promise<void> => {
    const exchange: Exchange = { headers: {} };
    /** The Idempotency-Key claim this write holds, and whether an earlier attempt under it applied. */
    let claimed: { id: string; replayed: boolean } | null = null;
    const requestId = requestIdFrom(res.getHeader('x-request-id') as string | undefined);
    const logError = (error: unknown) => deps.logError(error, requestId);
    try {
      const ctx = await authenticateFor(req, endpoint.credential, deps.authenticator, requestId);
      const call: ShimCall = {
        params,
        graphql: graphqlCaller(deps.apollo, ctx, logError, exchange),
        caller: ctx.principal && { id: ctx.principal.user.id, numericId: ctx.principal.user.numericId },
      };
      let result: ShimResult;
      if (write) {
        exchange.expectedVersion = await expectedVersionFor(req, endpoint, call, exchange);
        const mediaTypes = endpoint.write.mediaTypes ?? ['application/json'];
        const body = await readJsonObject(req, res, deps.bodyLimitBytes, mediaTypes);
        const key = idempotencyKeyFrom(req);
        if (key !== undefined && ctx.principal) {
          const fingerprint = requestFingerprint(
            req.method ?? '',
            `${path} ${req.headers['if-match'] ?? ''}`,
            JSON.stringify(body),
          );
          const start = await deps.idempotency.start(ctx.principal.credentialId, key, fingerprint);
          if (start.outcome === 'replay') {
            sendJson(res, start.status, { ...start.headers, 'Idempotent-Replayed': 'true' }, start.body);
            return;
          }
          if (start.outcome === 'mismatch') {
            throw new RestFailure(
              TransportFailure.IDEMPOTENCY_KEY_REUSED,
              'This Idempotency-Key was already used with a different request',
            );
          }
          if (start.outcome === 'in-progress') {
            throw new RestFailure(
              TransportFailure.IDEMPOTENCY_IN_PROGRESS,
              'A request with this Idempotency-Key is still being processed; retry shortly',
            );
          }
          // An attempt whose write was applied but whose answer was never stored (its process died):
          // this one runs the request again, and the update answers with what that write applied.
          claimed = { id: start.claimId, replayed: start.appliedResult !== null };
          ctx.idempotency = { claimId: start.claimId, appliedResult: start.appliedResult };
        }
        result = await endpoint.write.handle(call, body);
      } else {
        result = await endpoint.read(call);
      }
      const headers = { ...exchange.headers };
      if (exchange.version !== undefined) headers.ETag = `"${exchange.version}"`;
      const status = result.status ?? 200;
      const text = JSON.stringify(result.body);
      // Stored before the response goes out: a retry that arrives after it must find the answer.
      if (claimed) await deps.idempotency.finish(claimed.id, status, text, headers);
      sendJson(
        res,
        status,
        claimed?.replayed ? { ...headers, 'Idempotent-Replayed': 'true' } : headers,
        text,
      );
    } catch (error) {
      if (claimed) {
        await deps.idempotency.release(claimed.id).catch(logError);
      }
      if (error instanceof RestFailure) {
        const stale =
          error.kind === ErrorCode.CONFLICT &&
          error.field === 'version' &&
          exchange.expectedVersion !== undefined;
        const failure = stale
          ? new RestFailure(
              TransportFailure.PRECONDITION_FAILED,
              'If-Match does not match the current version',
            )
          : error;
        return sendFailure(res, endpoint, failure, exchange.headers);
      }
      logError(error);
      sendFailure(res, endpoint, new RestFailure(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
    }
  };
}

/** Registers the endpoint on each of its paths; other methods get 405 with Allow, OPTIONS gets 204. */
export function mountEndpoint(router: Router, endpoint: EndpointDefinition, deps: RestDeps): void {
  const read = endpointHandler(endpoint, deps, false);
  const write = endpointHandler(endpoint, deps, true);
  const viaExpress =
    (handler: typeof read) =>
    (req: Request, res: Response): Promise<void> =>
      handler(req, res, req.params as Record<string, string>, `${req.baseUrl}${req.path}`);
  for (const path of endpoint.paths) {
    const route = router.route(path).get(viaExpress(read));
    route[endpoint.write.method](viaExpress(write));
    route
      .options((_req, res) => {
        res.setHeader('Allow', allowed(endpoint));
        res.status(204).end();
      })
      .all((req, res) => {
        res.setHeader('Allow', allowed(endpoint));
        sendFailure(
          res,
          endpoint,
          new RestFailure(
            TransportFailure.METHOD_NOT_ALLOWED,
            `${req.method} is not allowed here; use ${allowed(endpoint)}`,
          ),
        );
      });
  }
}

/** `/v1/users/:user_id` → its parameter names and a RegExp over the raw path, as Express matches it. */
function pathMatcher(path: string): { names: string[]; pattern: RegExp } {
  const names: string[] = [];
  const segments = path.split('/').map((segment) => {
    if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    names.push(segment.slice(1));
    return '([^/]+)';
  });
  return { names, pattern: new RegExp(`^${segments.join('/')}/?$`) };
}

/**
 * The endpoints' writes in plain JSON for the hot lane (http/hot-lane.ts). Paths are tried in mounting
 * order, as Express tries them, and the first that matches decides: its write method with a plain JSON
 * body runs here; anything else there (another method, a body that is not plain JSON, a path parameter
 * that does not percent-decode) is left to Express, which answers it.
 */
export function hotRoute(endpoints: readonly EndpointDefinition[], deps: RestDeps): HotRoute {
  const paths = endpoints.flatMap((endpoint) => {
    const write = endpointHandler(endpoint, deps, true);
    const method = endpoint.write.method.toUpperCase();
    return endpoint.paths.map((template) => ({ template, method, write, ...pathMatcher(template) }));
  });
  return {
    match: (req, path): HotMatch | undefined => {
      for (const { template, method, write, names, pattern } of paths) {
        const found = pattern.exec(path);
        if (!found) continue;
        if (req.method !== method || plainJsonLength(req, deps.bodyLimitBytes) === undefined)
          return undefined;
        const params: Record<string, string> = {};
        try {
          names.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1])));
        } catch {
          return undefined;
        }
        return {
          label: template,
          run: (req, res) =>
            void write(req, res, params, path).catch((error) => {
              deps.logError(error, String(res.getHeader('x-request-id')));
              if (!res.headersSent) res.writeHead(500).end();
            }),
        };
      }
      return undefined;
    },
  };
}

/**
 * Express refuses a path parameter it cannot percent-decode (e.g. `%ED%A0%80`) before any handler
 * runs; this answers that 400 in the error shape of the endpoint the path belongs to.
 */
export function malformedPathHandler(endpoints: readonly EndpointDefinition[]): ErrorRequestHandler {
  const patterns = endpoints.map((endpoint) => ({
    endpoint,
    paths: endpoint.paths.map((path) => pathMatcher(path).pattern),
  }));
  return (error, req, res, next) => {
    const match = patterns.find(({ paths }) => paths.some((pattern) => pattern.test(req.path)));
    if (!(error instanceof URIError) || !match || res.headersSent) return next(error);
    sendFailure(
      res,
      match.endpoint,
      RestFailure.badInput([], 'The request path is not valid percent-encoded UTF-8'),
    );
  };
}

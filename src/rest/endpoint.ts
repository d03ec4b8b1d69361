import type { ApolloServer } from '@apollo/server';
import type { ErrorRequestHandler, Request, Response, Router } from 'express';
import type { RequestContext } from '../auth/principal';
import { ErrorCode } from '../errors/error-code';
import { requestIdFrom, type RequestAuthenticator } from '../graphql/context';
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

function sendFailure(
  res: Response,
  endpoint: EndpointDefinition,
  failure: RestFailure,
  headers: Record<string, string> = {},
): void {
  const status = restStatusOf(failure.kind);
  res.set({ ...headers, ...failure.headers });
  if (status === 401) res.setHeader('WWW-Authenticate', endpoint.credential.challenge);
  res.status(status).json(errorBody(endpoint.id, renameFailure(failure, endpoint.fields)));
}

/** `If-Match: "7"` (or W/"7") → 7; `*` or no header → undefined; anything else can never match. */
export function expectedVersionFrom(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(header);
  if (!match) {
    throw new RestFailure(
      TransportFailure.PRECONDITION_FAILED,
      'If-Match must be the ETag of the current version, e.g. "3"',
    );
  }
  return Number(match[1]);
}

function idempotencyKeyFrom(req: Request): string | undefined {
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

/** Registers the endpoint on each of its paths; other methods get 405 with Allow, OPTIONS gets 204. */
export function mountEndpoint(router: Router, endpoint: EndpointDefinition, deps: RestDeps): void {
  const handler =
    (write: boolean) =>
    async (req: Request, res: Response): Promise<void> => {
      const exchange: Exchange = { headers: {} };
      let claimed: { credentialId: string; key: string } | null = null;
      const requestId = requestIdFrom(res.getHeader('x-request-id') as string | undefined);
      const logError = (error: unknown) => deps.logError(error, requestId);
      try {
        const ctx = await authenticateFor(req, endpoint.credential, deps.authenticator, requestId);
        const call = {
          params: req.params as Record<string, string>,
          graphql: graphqlCaller(deps.apollo, ctx, logError, exchange),
        };
        let result: ShimResult;
        if (write) {
          exchange.expectedVersion = expectedVersionFrom(req.headers['if-match']);
          const mediaTypes = endpoint.write.mediaTypes ?? ['application/json'];
          const body = await readJsonObject(req, res, deps.bodyLimitBytes, mediaTypes);
          const key = idempotencyKeyFrom(req);
          if (key !== undefined && ctx.principal) {
            const fingerprint = requestFingerprint(
              req.method,
              `${req.baseUrl}${req.path} ${req.headers['if-match'] ?? ''}`,
              JSON.stringify(body),
            );
            const start = await deps.idempotency.start(ctx.principal.credentialId, key, fingerprint);
            if (start.outcome === 'replay') {
              res.set({ ...start.headers, 'Idempotent-Replayed': 'true' });
              res.status(start.status).type('application/json').send(start.body);
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
            claimed = { credentialId: ctx.principal.credentialId, key };
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
        if (claimed) await deps.idempotency.finish(claimed.credentialId, claimed.key, status, text, headers);
        res.set(headers).status(status).type('application/json').send(text);
      } catch (error) {
        if (claimed) {
          await deps.idempotency.release(claimed.credentialId, claimed.key).catch(logError);
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
  const read = handler(false);
  const write = handler(true);
  for (const path of endpoint.paths) {
    const route = router.route(path).get(read);
    route[endpoint.write.method](write);
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

/** `/v1/users/:user_id` → a RegExp matching the raw (still percent-encoded) path, with an optional trailing slash. */
function rawPathPattern(path: string): RegExp {
  const segments = path.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment));
  return new RegExp(`^${segments.join('/')}/?$`);
}

/**
 * Express refuses a path parameter it cannot percent-decode (e.g. `%ED%A0%80`) before any handler
 * runs; this answers that 400 in the error shape of the endpoint the path belongs to.
 */
export function malformedPathHandler(endpoints: readonly EndpointDefinition[]): ErrorRequestHandler {
  const patterns = endpoints.map((endpoint) => ({ endpoint, paths: endpoint.paths.map(rawPathPattern) }));
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

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap } from '@apollo/server';
import { extractCredential } from '../auth/presented-credential';
import type { RequestContext } from '../auth/principal';
import type { RequestAuthenticator } from '../auth/request-authenticator';
import { AppError, RateLimitedError, UnauthenticatedError } from '../errors/app-error';
import { httpStatusOf } from '../errors/error-code';
import type { ExplorerAssets } from '../explorer/assets';
import { sendGraphiQL, wantsGraphiQL } from '../explorer/graphiql.route';
import { sendJson } from '../http/answer';
import { BodyError, readJsonBody } from '../http/body';
import type { PathRoutes, RouteRequest } from '../http/router';
import { IDEMPOTENCY_MESSAGES, type IdempotencyService } from '../services/idempotency.service';
import { idempotentRequest } from './idempotent-mutation';

export interface GraphqlRouteDeps {
  apollo: ApolloServer<RequestContext>;
  authenticator: RequestAuthenticator;
  idempotency: IdempotencyService;
  bodyLimitBytes: number;
  /** Null when the explorer is off (GraphiQL then answers that it is disabled). */
  explorer: ExplorerAssets | null;
  logError: (error: unknown, requestId?: string) => void;
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

type ApolloAnswer = Awaited<ReturnType<ApolloServer<RequestContext>['executeHTTPGraphQLRequest']>>;

/** Apollo's body: whole, or its chunks as they come (incremental delivery). */
function bodyOf(response: ApolloAnswer): string | AsyncIterable<string> {
  return response.body.kind === 'complete' ? response.body.string : response.body.asyncIterator;
}

/** Writes an answer (Apollo's, or one stored for an Idempotency-Key): headers, status, then the body. */
async function writeAnswer(
  res: ServerResponse,
  status: number,
  headers: Iterable<[string, string]>,
  body: string | AsyncIterable<string>,
): Promise<void> {
  for (const [name, value] of headers) res.setHeader(name, value);
  res.statusCode = status;
  if (typeof body === 'string') {
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
    return;
  }
  for await (const chunk of body) res.write(chunk);
  res.end();
}

/** The methods /graphql takes, as the route table answers OPTIONS. */
const ALLOW = 'GET, HEAD, POST, OPTIONS';

/**
 * GraphQL over HTTP (GET): an optional parameter sent as the empty string is as if it were not sent
 * (`variables=`, `extensions=`, `operationName=`).
 */
function withoutEmptyParameters(search: string): string {
  if (!/[?&](variables|extensions|operationName)=(&|$)/.test(search)) return search;
  const params = new URLSearchParams(search);
  for (const name of ['variables', 'extensions', 'operationName']) {
    if (params.get(name) === '') params.delete(name);
  }
  return `?${params}`;
}

const STATUS: Record<BodyError['refusal'], number> = {
  missing: 400,
  'media-type': 415,
  unsupported: 415,
  'too-large': 413,
  malformed: 400,
};

/**
 * /graphql on the route table: GET (GraphiQL for a browser, else an operation in the query string) and
 * POST go to Apollo, with the body read in the one place the server reads bodies. Other methods go to
 * Apollo too, which refuses them in GraphQL's own terms; OPTIONS is the route table's (204, Allow).
 */
export function graphqlRoutes(deps: GraphqlRouteDeps): PathRoutes {
  const { apollo, authenticator, logError } = deps;

  const context = async (req: IncomingMessage, requestId: string): Promise<RequestContext> => {
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

  /** A request whose body could not be taken in, answered in GraphQL's error shape. */
  const refuseBody = ({ res }: RouteRequest, error: BodyError) => {
    sendJson(res, STATUS[error.refusal], {
      errors: [{ message: error.message, extensions: { code: 'BAD_REQUEST' } }],
    });
  };

  /**
   * Runs the request through Apollo; `contextValue`, when the request was authenticated already. HEAD
   * is GET without the body (RFC 9110 §9.3.2; Node sends none), which Apollo does not know of.
   */
  const run = (request: RouteRequest, body: unknown, contextValue?: Promise<RequestContext>) => {
    const { req, requestId } = request;
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const search = method === 'GET' ? withoutEmptyParameters(request.search) : request.search;
    return apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method, headers, search, body },
      context: () => contextValue ?? context(req, requestId),
    });
  };

  const execute = async (request: RouteRequest, body: unknown, contextValue?: Promise<RequestContext>) => {
    const response = await run(request, body, contextValue);
    // Apollo's 405 names only POST (a mutation sent with GET) or GET and POST; Allow lists every method
    // /graphql takes (RFC 9110 §15.5.6).
    if (response.status === 405) response.headers.set('allow', ALLOW);
    await writeAnswer(request.res, response.status ?? 200, response.headers, bodyOf(response));
  };

  /** A GraphQL error answer of the transport (not of an operation). */
  const refuse = ({ res }: RouteRequest, status: number, code: string, message: string, field?: string) =>
    sendJson(res, status, {
      errors: [{ message, extensions: { code, ...(field ? { fields: [{ field, message }] } : {}) } }],
    });

  /**
   * A mutation with an Idempotency-Key: claimed for the credential, its answer stored before it is
   * sent and replayed to retries (`Idempotent-Replayed: true`); another request under the key is 422,
   * one while the first still runs 409. A mutation that failed without writing releases its key.
   */
  const executeIdempotently = async (request: RouteRequest, body: unknown) => {
    const asked = idempotentRequest(request.req.headers['idempotency-key'], body);
    if (asked.kind === 'refuse') return refuse(request, 400, 'BAD_USER_INPUT', asked.message, asked.field);
    const contextValue = context(request.req, request.requestId);
    const ctx = await contextValue.catch(() => null);
    if (asked.kind === 'ignore' || !ctx?.principal) return execute(request, body, contextValue);
    const start = await deps.idempotency.start(ctx.principal.credentialId, asked.key, asked.fingerprint);
    if (start.outcome === 'replay') {
      const headers = { ...start.headers, 'idempotent-replayed': 'true' };
      return writeAnswer(request.res, start.status, Object.entries(headers), start.body);
    }
    if (start.outcome === 'mismatch') {
      return refuse(request, 422, 'IDEMPOTENCY_KEY_REUSED', IDEMPOTENCY_MESSAGES.reused);
    }
    if (start.outcome === 'in-progress') {
      return refuse(request, 409, 'IDEMPOTENCY_IN_PROGRESS', IDEMPOTENCY_MESSAGES.inProgress);
    }
    ctx.idempotency = { claimId: start.claimId, appliedResult: start.appliedResult };
    try {
      const response = await run(request, body, Promise.resolve(ctx));
      const status = response.status ?? 200;
      const text = response.body.kind === 'complete' ? response.body.string : null;
      const wrote = text !== null && status < 500 && Object.values(JSON.parse(text).data ?? {}).some(Boolean);
      const headers = Object.fromEntries(response.headers);
      // Stored before the answer goes out: a retry that arrives after it must find the answer.
      if (wrote) await deps.idempotency.finish(start.claimId, status, text, headers);
      else await deps.idempotency.release(start.claimId);
      if (start.appliedResult !== null) headers['idempotent-replayed'] = 'true';
      await writeAnswer(request.res, status, Object.entries(headers), bodyOf(response));
    } catch (error) {
      await deps.idempotency.release(start.claimId).catch((releaseError: unknown) => logError(releaseError));
      throw error;
    }
  };

  const post = async (request: RouteRequest) => {
    let body: unknown;
    try {
      body = await readJsonBody(request.req, request.res, {
        limit: deps.bodyLimitBytes,
        mediaTypes: ['application/json'],
      });
    } catch (error) {
      if (!(error instanceof BodyError)) throw error;
      // Only JSON is read; Apollo answers a request without one or with another media type (its CSRF
      // prevention refuses form and text posts).
      if (error.refusal === 'missing' || error.refusal === 'media-type') return execute(request, undefined);
      return refuseBody(request, error);
    }
    // As Express's JSON parser in strict mode: only an object or an array is a GraphQL request body.
    if (typeof body !== 'object' || body === null)
      return refuseBody(request, new BodyError('malformed', 'The request body must be a JSON object'));
    if (request.req.headers['idempotency-key'] !== undefined) return executeIdempotently(request, body);
    return execute(request, body);
  };

  const get = (request: RouteRequest) => {
    request.res.setHeader('vary', 'Accept');
    if (wantsGraphiQL(request.req, request.search)) return sendGraphiQL(request.res, deps.explorer);
    // A query's answer over GET is chosen by credentials not all in Authorization (which alone keeps
    // shared caches from storing it, RFC 9111 §3.5): no cache may keep it.
    request.res.setHeader('cache-control', 'private, no-store');
    request.res.setHeader('vary', 'Accept, Authorization, X-API-Key, X-JWT-Token, Cookie');
    return execute(request, undefined);
  };

  const other = (request: RouteRequest) => execute(request, undefined);

  return { methods: { GET: get, POST: post }, methodNotAllowed: other };
}

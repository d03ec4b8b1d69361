import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { sendJsonText } from '../http/answer';
import { BodyError, readJsonBody } from '../http/body';
import type { RouteRequest, RouteTable } from '../http/router';
import type { RequestContext } from '../auth/principal';
import { ErrorCode } from '../errors/error-code';
import type { RequestAuthenticator } from '../auth/request-authenticator';
import { Need } from '../auth/scopes';
import {
  conditionHolds,
  NO_VERSION_MATCHES,
  noneMatchFails,
  parseIfMatch,
  parseHttpDate,
  parseIfNoneMatch,
} from './if-match';
import {
  IDEMPOTENCY_KEY,
  IDEMPOTENCY_MESSAGES,
  type IdempotencyService,
  requestFingerprint,
} from '../services/idempotency.service';
import { authenticateFor } from './credential-rule';
import { errorBody, restStatusOf } from './error-table';
import { type JsonObject, renameFailure } from './field-map';
import { type OperationState, graphqlCaller } from './graphql-call';
import {
  type EndpointDefinition,
  type ShimCall,
  type ShimResult,
  writeMediaTypes,
} from './endpoint-definition';
import { RestFailure, TransportFailure } from './rest-failure';

/** What every shim module needs from the app. */
export interface RestDeps {
  apollo: ApolloServer<RequestContext>;
  authenticator: RequestAuthenticator;
  idempotency: IdempotencyService;
  bodyLimitBytes: number;
  logError: (error: unknown, requestId?: string) => void;
}

/**
 * On every answer of an endpoint: a user's data, chosen by credentials that are not all in
 * `Authorization` (which alone keeps shared caches from storing an answer), so no shared cache may
 * keep it, and a private one asks again (with the ETag) before using it.
 */
const PRIVATE = {
  'Cache-Control': 'private, no-cache',
  Vary: 'Authorization, X-API-Key, X-JWT-Token, Cookie',
};

function sendJson(res: ServerResponse, status: number, headers: Record<string, string>, text: string): void {
  sendJsonText(res, status, text, Object.entries({ ...PRIVATE, ...headers }));
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
  operationState: OperationState,
): Promise<number | undefined> {
  const ifMatch = parseIfMatch(req.headers['if-match']);
  if (ifMatch.kind !== 'versions') return undefined;
  if (ifMatch.versions.length === 1) return ifMatch.versions[0];
  if (ifMatch.versions.length === 0) return NO_VERSION_MATCHES;
  await endpoint.read(call);
  const current = operationState.version;
  return current !== undefined && ifMatch.versions.includes(current) ? current : NO_VERSION_MATCHES;
}

/**
 * What a retry under the same Idempotency-Key must repeat: method, path, preconditions and body. The
 * preconditions other than If-Match only when sent, so that keys stored before they counted keep
 * their fingerprints.
 */
function fingerprintOf(req: IncomingMessage, path: string, body: unknown): string {
  const conditions = (['If-None-Match', 'If-Unmodified-Since'] as const)
    .map((name) => [name, req.headers[name.toLowerCase()]] as const)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `\n${name}: ${String(value)}`)
    .join('');
  return requestFingerprint(
    req.method ?? '',
    `${path} ${req.headers['if-match'] ?? ''}${conditions}`,
    JSON.stringify(body),
  );
}

function idempotencyKeyFrom(req: IncomingMessage): string | undefined {
  const key = req.headers['idempotency-key'];
  if (key === undefined) return undefined;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw RestFailure.badInput(
      [{ field: 'Idempotency-Key', message: IDEMPOTENCY_MESSAGES.invalid }],
      'Invalid Idempotency-Key header',
    );
  }
  return key;
}

/** `?dry_run=true` (or `false`) on a write; any other value is refused by name. */
function dryRunFrom(search: string): boolean {
  const values = new URLSearchParams(search).getAll('dry_run');
  if (values.length === 0) return false;
  if (values.length === 1 && (values[0] === 'true' || values[0] === 'false')) return values[0] === 'true';
  throw RestFailure.badInput(
    [{ field: 'dry_run', message: 'dry_run must be given once, as true or false' }],
    'Invalid dry_run query parameter',
  );
}

/** The body of a write: one JSON object, refused in the endpoint's terms. */
async function readBodyObject(
  request: RouteRequest,
  limit: number,
  mediaTypes: readonly string[],
): Promise<JsonObject> {
  let value: unknown;
  try {
    value = await readJsonBody(request.req, request.res, { limit, mediaTypes });
  } catch (error) {
    throw error instanceof BodyError ? RestFailure.body(error) : error;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RestFailure(ErrorCode.BAD_USER_INPUT, 'Request body must be a JSON object');
  }
  return value as JsonObject;
}

/**
 * A date condition's HTTP-date in seconds since the epoch, or null when the header is absent, is not an
 * HTTP-date, or was sent more than once (then it is ignored, RFC 9110 §13.1.3 and §13.1.4; Node keeps
 * only the first of such headers, so the raw ones are counted).
 */
function httpDate(req: IncomingMessage, name: 'if-modified-since' | 'if-unmodified-since'): number | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  let sent = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === name) sent++;
  return sent === 1 ? parseHttpDate(value) : null;
}

/** If-Unmodified-Since's date (seconds), which counts only without If-Match (RFC 9110 §13.1.4), else null. */
function unmodifiedSince(req: IncomingMessage): number | null {
  return req.headers['if-match'] === undefined ? httpDate(req, 'if-unmodified-since') : null;
}

/** When the user last changed, in whole seconds (the precision of HTTP dates). */
function modifiedAt(operationState: OperationState): number | null {
  return operationState.updatedAt ? Math.floor(Date.parse(operationState.updatedAt) / 1000) : null;
}

/** The 412s of the conditions judged here (a stale If-Match is found by the write itself). */
const staleIfMatch = () =>
  new RestFailure(TransportFailure.PRECONDITION_FAILED, 'If-Match does not match the current version');
const changedAfterUnmodifiedSince = () =>
  new RestFailure(TransportFailure.PRECONDITION_FAILED, 'The user was changed after If-Unmodified-Since');

/**
 * The 412 of a write whose expected version was stale, named after the condition that set it: If-Match,
 * or If-Unmodified-Since or If-None-Match, judged on the user as it was before another change came in.
 */
function staleCondition(req: IncomingMessage): RestFailure {
  if (req.headers['if-match'] !== undefined) return staleIfMatch();
  if (unmodifiedSince(req) !== null) return changedAfterUnmodifiedSince();
  return new RestFailure(
    TransportFailure.PRECONDITION_FAILED,
    'The user was changed while If-None-Match was being judged; send the request again',
  );
}

/**
 * A write's conditions other than If-Match (which is `expectedVersion`, judged with the write):
 * If-Unmodified-Since, which counts only without If-Match (RFC 9110 §13.1.4), and If-None-Match (`*`:
 * any user). They are judged on the user as read now, whose version the write then expects, so that a
 * change in between makes it stale (412) too. A condition that fails is not answered here: the write
 * is sent expecting no version, so that its own checks (403, 404, 400) come first (RFC 9110 §13.2.1);
 * the 412 returned is the answer when the write gets as far as its version.
 */
async function judgeOtherPreconditions(
  req: IncomingMessage,
  endpoint: EndpointDefinition,
  call: ShimCall,
  operationState: OperationState,
): Promise<RestFailure | undefined> {
  const since = unmodifiedSince(req);
  const noneMatch = parseIfNoneMatch(req.headers['if-none-match']);
  if (since === null && noneMatch.kind === 'absent') return undefined;
  if (operationState.version === undefined) await endpoint.read(call);
  const version = operationState.version;
  const changed = modifiedAt(operationState);
  let failed: RestFailure | undefined;
  if (since !== null && changed !== null && changed > since) failed = changedAfterUnmodifiedSince();
  else if (version !== undefined && noneMatchFails(noneMatch, version))
    failed = new RestFailure(
      TransportFailure.PRECONDITION_FAILED,
      'If-None-Match matches the current version',
    );
  operationState.expectedVersion = failed ? NO_VERSION_MATCHES : (operationState.expectedVersion ?? version);
  return failed;
}

/** ETag and Last-Modified of the user the operations returned (none when they returned none). */
function validators(operationState: OperationState): Record<string, string> {
  const headers: Record<string, string> = {};
  if (operationState.version !== undefined) headers.ETag = `"${operationState.version}"`;
  if (operationState.updatedAt) headers['Last-Modified'] = new Date(operationState.updatedAt).toUTCString();
  return headers;
}

/** The media types a PATCH endpoint takes, for Accept-Patch. */
function acceptedPatchTypes(endpoint: EndpointDefinition): string {
  return writeMediaTypes(endpoint).join(', ');
}

/** One endpoint's answer to a read (GET) or to its write. */
function endpointHandler(endpoint: EndpointDefinition, deps: RestDeps, write: boolean) {
  return async (request: RouteRequest): Promise<void> => {
    const { req, res, params, path, search, requestId } = request;
    const operationState: OperationState = { headers: {} };
    /** The Idempotency-Key claim this write holds, and whether an earlier attempt under it applied. */
    let claimed: { id: string; replayed: boolean } | null = null;
    /** The 412 of a condition other than If-Match that failed, answered if the write reaches its version. */
    let failedCondition: RestFailure | undefined;
    const logError = (error: unknown) => deps.logError(error, requestId);
    try {
      const need = write ? Need.WRITE : Need.READ;
      const ctx = await authenticateFor(req, endpoint.credential, deps.authenticator, requestId, need);
      const call: ShimCall = {
        params,
        graphql: graphqlCaller(deps.apollo, ctx, logError, operationState),
        caller: ctx.principal && { id: ctx.principal.user.id, numericId: ctx.principal.user.numericId },
      };
      let result: ShimResult;
      if (write) {
        operationState.dryRun = dryRunFrom(search);
        operationState.expectedVersion = await expectedVersionFor(req, endpoint, call, operationState);
        const body = await readBodyObject(request, deps.bodyLimitBytes, writeMediaTypes(endpoint));
        const key = idempotencyKeyFrom(req);
        // A dry run writes nothing, so there is nothing to make idempotent: its key is checked, not claimed.
        if (key !== undefined && ctx.principal && !operationState.dryRun) {
          const fingerprint = fingerprintOf(req, path, body);
          const start = await deps.idempotency.start(ctx.principal.credentialId, key, fingerprint);
          if (start.outcome === 'replay') {
            sendJson(res, start.status, { ...start.headers, 'Idempotent-Replayed': 'true' }, start.body);
            return;
          }
          if (start.outcome === 'mismatch') {
            throw new RestFailure(TransportFailure.IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_MESSAGES.reused);
          }
          if (start.outcome === 'in-progress') {
            throw new RestFailure(TransportFailure.IDEMPOTENCY_IN_PROGRESS, IDEMPOTENCY_MESSAGES.inProgress);
          }
          // An attempt whose write was applied but whose answer was never stored (its process died):
          // this one runs the request again, and the update answers with what that write applied.
          claimed = { id: start.claimId, replayed: start.appliedResult !== null };
          ctx.idempotency = { claimId: start.claimId, appliedResult: start.appliedResult };
          call.appliedBefore = claimed.replayed;
        }
        // After the key: a retry is answered as the first request was, whatever the user is now; and
        // an attempt whose write applied is answered with it.
        if (!claimed?.replayed)
          failedCondition = await judgeOtherPreconditions(req, endpoint, call, operationState);
        result = await endpoint.write.handle(call, body);
      } else {
        result = await endpoint.read(call);
        // Conditional GET (RFC 9110 §13.2.2): If-Match, else If-Unmodified-Since (412); then
        // If-None-Match, else If-Modified-Since (304).
        const version = operationState.version;
        const changed = modifiedAt(operationState);
        if (version !== undefined && changed !== null) {
          if (!conditionHolds(parseIfMatch(req.headers['if-match']), version)) throw staleIfMatch();
          const since = unmodifiedSince(req);
          if (since !== null && changed > since) throw changedAfterUnmodifiedSince();
          const modifiedSince = httpDate(req, 'if-modified-since');
          const notModified =
            req.headers['if-none-match'] !== undefined
              ? noneMatchFails(parseIfNoneMatch(req.headers['if-none-match']), version)
              : modifiedSince !== null && changed <= modifiedSince;
          if (notModified) {
            res.writeHead(304, { ...PRIVATE, ...operationState.headers, ...validators(operationState) });
            res.end();
            return;
          }
        }
      }
      // A dry run's user is not stored: its version is no entity tag of anything.
      const headers = {
        ...operationState.headers,
        ...(operationState.dryRun ? {} : validators(operationState)),
      };
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
          operationState.expectedVersion !== undefined;
        const failure = stale ? (failedCondition ?? staleCondition(req)) : error;
        // RFC 5789 §2.2: a PATCH refused for its media type says which ones are taken.
        const acceptPatch: Record<string, string> =
          failure.kind === TransportFailure.UNSUPPORTED_MEDIA_TYPE && endpoint.write.method === 'patch'
            ? { 'Accept-Patch': acceptedPatchTypes(endpoint) }
            : {};
        return sendFailure(res, endpoint, failure, { ...operationState.headers, ...acceptPatch });
      }
      logError(error);
      sendFailure(res, endpoint, new RestFailure(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
    }
  };
}

/**
 * Puts each endpoint's paths on the route table: GET reads, the documented method writes; other methods
 * get 405 with Allow and a path parameter that does not percent-decode a 400, in the endpoint's shape.
 */
export function addEndpointRoutes(
  table: RouteTable,
  endpoints: readonly EndpointDefinition[],
  deps: RestDeps,
): void {
  for (const endpoint of endpoints) {
    const read = endpointHandler(endpoint, deps, false);
    const write = endpointHandler(endpoint, deps, true);
    const method = endpoint.write.method.toUpperCase() as 'PUT' | 'PATCH' | 'POST';
    for (const path of endpoint.paths) {
      table.add(path, {
        methods: { GET: read, [method]: write },
        methodNotAllowed: ({ req, res }, allow) =>
          sendFailure(
            res,
            endpoint,
            new RestFailure(
              TransportFailure.METHOD_NOT_ALLOWED,
              `${req.method} is not allowed here; use ${allow}`,
            ),
            { Allow: allow },
          ),
        // OPTIONS: Allow, and for PATCH the media types it takes (RFC 5789 §3.1).
        options: ({ res }, allow) => {
          const headers: Record<string, string> = { Allow: allow };
          if (method === 'PATCH') headers['Accept-Patch'] = acceptedPatchTypes(endpoint);
          res.writeHead(204, headers);
          res.end();
        },
        malformedPath: ({ res }) =>
          sendFailure(
            res,
            endpoint,
            RestFailure.badInput([], 'The request path is not valid percent-encoded UTF-8'),
          ),
      });
    }
  }
}

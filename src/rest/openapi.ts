import { ErrorCode } from '../errors/error-code';
import { IDEMPOTENCY_KEY } from '../services/idempotency.service';
import {
  type EndpointDefinition,
  type JsonSchema,
  type OperationFacts,
  type SecurityScheme,
  writeMediaTypes,
} from './endpoint-definition';
import { restStatusOf } from './error-table';
import { FAILURE_KINDS, type FailureKind, TransportFailure } from './rest-failure';

/** `#/components/schemas/<name>`. */
export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const nullableString: JsonSchema = { type: ['string', 'null'] };
export const dateTime: JsonSchema = { type: 'string', format: 'date-time' };

/** Beside a documented user's fields, only while the user's own email change awaits confirmation. */
export const pendingEmail: JsonSchema = {
  type: 'string',
  description:
    'The address the user asked to change their email to, applied once confirmed through the link sent to it; ' +
    'present only while that change is pending (email is still the current address)',
};

/** `pendingEmail` under `name` when the user has one (the bodies keep their documented shape otherwise). */
export function pendingEmailField(name: string, user: { pendingEmail: string | null }) {
  return user.pendingEmail === null ? {} : { [name]: user.pendingEmail };
}

/** `/v1/users/:user_id` → `/v1/users/{user_id}`. */
export function documentPath(template: string): string {
  return template.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * An endpoint's first path is its full documented path (the document's server prefix and its path:
 * `/v2/user`) and carries the document's operationIds; every further path is the same path without
 * that prefix (`/user`), and its operations are `<operationId>WithoutServerPrefix`.
 */
function aliasOperationId(operationId: string): string {
  return `${operationId}WithoutServerPrefix`;
}

/** Where a failure can happen: on every read (or write), only where the path addresses a user, or never. */
type Reach = 'all' | 'by-id' | 'none';

/** What leads to a failure: one text, or one for reads and one for writes. */
type Cause = string | { read: string; write: string };

/**
 * Every failure of the shim (`FAILURE_KINDS`), where it can happen and what leads to it; its status is
 * the error table's (`restStatusOf`). A failure kind added without a row here does not compile.
 */
const FAILURES: Record<FailureKind, { read: Reach; write: Reach; cause: Cause }> = {
  [ErrorCode.BAD_USER_INPUT]: {
    read: 'by-id',
    write: 'all',
    cause: {
      read: 'Bad request: a path parameter that is invalid or not percent-encoded UTF-8',
      write:
        'Bad request: malformed JSON, a missing body, a body that is not an object, unknown fields, wrong types ' +
        'or invalid values (each named), an invalid Idempotency-Key, or a path parameter that is invalid or not ' +
        'percent-encoded UTF-8',
    },
  },
  [ErrorCode.UNAUTHENTICATED]: {
    read: 'all',
    write: 'all',
    cause:
      'No credential, an unreadable, unknown, expired or revoked one, two different ones, or one of a kind or in ' +
      'a place this endpoint does not take (with WWW-Authenticate)',
  },
  [ErrorCode.FORBIDDEN]: {
    read: 'all',
    write: 'all',
    cause: {
      read: 'A missing scope',
      write:
        'A missing scope (judged before the body is read), or not allowed to make this change (only admins ' +
        'change other users, roles and metadata)',
    },
  },
  [ErrorCode.NOT_FOUND]: {
    read: 'by-id',
    write: 'by-id',
    cause: 'No such user in the caller’s organization',
  },
  [ErrorCode.CONFLICT]: {
    read: 'none',
    write: 'all',
    cause:
      'Conflict: an email or username already taken in the organization, or the user changed concurrently',
  },
  [TransportFailure.IDEMPOTENCY_IN_PROGRESS]: {
    read: 'none',
    write: 'all',
    cause: 'a request with this Idempotency-Key is still being processed (retry shortly)',
  },
  [TransportFailure.PRECONDITION_FAILED]: {
    read: 'all',
    write: 'all',
    cause: {
      read: 'If-Match names no current version of the user, or (without If-Match) it changed after If-Unmodified-Since',
      write:
        'If-Match names no current version of the user, If-None-Match names the current one, or (without If-Match) ' +
        'it changed after If-Unmodified-Since: nothing was changed',
    },
  },
  [TransportFailure.PAYLOAD_TOO_LARGE]: {
    read: 'none',
    write: 'all',
    cause: 'The request body is larger than BODY_LIMIT_BYTES (64 KiB by default)',
  },
  [TransportFailure.UNSUPPORTED_MEDIA_TYPE]: {
    read: 'none',
    write: 'all',
    cause:
      'A Content-Type this operation does not take, a charset other than UTF-8, or a content coding other than ' +
      'gzip, deflate or br',
  },
  [TransportFailure.IDEMPOTENCY_KEY_REUSED]: {
    read: 'none',
    write: 'all',
    cause: 'This Idempotency-Key was already used with a different request',
  },
  [ErrorCode.RATE_LIMITED]: {
    read: 'all',
    write: 'all',
    cause: {
      read:
        'Too many failed authentications from this address (AUTH_FAILURE_LIMIT_PER_MINUTE): every request from it ' +
        'gets 429 until Retry-After',
      write:
        'Too many requests: the credential’s write budget (RATE_LIMIT_PER_MINUTE) is spent, or this address ' +
        'failed authentication too often (AUTH_FAILURE_LIMIT_PER_MINUTE); retry after Retry-After seconds',
    },
  },
  [ErrorCode.INTERNAL_SERVER_ERROR]: {
    read: 'all',
    write: 'all',
    cause: 'Unexpected server error',
  },
  // The answer to the methods a path does not take, so to no documented operation: each path item's
  // description says it instead.
  [TransportFailure.METHOD_NOT_ALLOWED]: { read: 'none', write: 'none', cause: 'Method not allowed' },
};

const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
const parameter = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const HEADERS = {
  'X-Request-Id': {
    description: 'The request’s X-Request-Id when it was 1 to 128 of `A-Za-z0-9._:-`, else a generated one',
    schema: { type: 'string' },
  },
  ETag: {
    description:
      'The user’s current version as a strong entity tag (`"<version>"`), for If-Match on the next write',
    schema: { type: 'string', pattern: '^"[0-9]+"$' },
    example: '"3"',
  },
  'Last-Modified': {
    description: 'When the user last changed (its updatedAt), as an HTTP date',
    schema: { type: 'string' },
    example: 'Mon, 07 Dec 2026 05:30:00 GMT',
  },
  'RateLimit-Limit': {
    description:
      'The budget of the limit in force, per minute: writes per credential (RATE_LIMIT_PER_MINUTE) on a write ' +
      'that spent from it, failed authentications per address (AUTH_FAILURE_LIMIT_PER_MINUTE) on a 429 for them. ' +
      'Absent while that limit is off (0).',
    schema: { type: 'integer', minimum: 1 },
  },
  'RateLimit-Remaining': {
    description: 'What is left of that budget in the current one-minute window',
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Reset': {
    description: 'Seconds until the current window ends',
    schema: { type: 'integer', minimum: 1 },
  },
  'Retry-After': {
    description: 'Seconds to wait before the budget allows another request',
    schema: { type: 'integer', minimum: 1 },
  },
  'Cache-Control': {
    description:
      'On every answer of an endpoint: a user’s data, chosen by credentials not all in Authorization, so no shared ' +
      'cache may keep it, and a private one asks again (with the ETag) before using it',
    schema: { type: 'string', enum: ['private, no-cache'] },
  },
  Vary: {
    description: 'Every request header a credential can come in',
    schema: { type: 'string', enum: ['Authorization, X-API-Key, X-JWT-Token, Cookie'] },
  },
  'Accept-Patch': {
    description: 'On a PATCH refused for its media type: the media types it takes (RFC 5789)',
    schema: { type: 'string' },
  },
  'Idempotent-Replayed': {
    description:
      'Sent (`true`) when this is the stored answer of an earlier request with the same Idempotency-Key, which wrote once',
    schema: { type: 'string', enum: ['true'] },
  },
} as const;

const RATE_LIMIT_HEADERS = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;

/** No `example`s: Swagger UI would fill them in, and every Try it out would send them. */
const PARAMETERS = {
  'X-Request-Id': {
    name: 'X-Request-Id',
    in: 'header',
    required: false,
    description: 'An id for this request, echoed in the response and logs (1 to 128 of `A-Za-z0-9._:-`)',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  'If-Match': {
    name: 'If-Match',
    in: 'header',
    required: false,
    description:
      'Write only if the user is still at this version: `*` (or no header) matches any, otherwise a list of strong ' +
      'entity tags as ETag gives them (`"3"` or `"3", "4"`); a weak tag (`W/"3"`) never matches. A list naming no ' +
      'current version is refused with 412 after the other checks, and nothing is written.',
    schema: { type: 'string' },
  },
  'If-None-Match': {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description:
      'A read answers 304 (no body) and a write is refused with 412 when this names the current version: `*`, or a ' +
      'list of entity tags compared weakly (`"3"` and `W/"3"` both name version 3).',
    schema: { type: 'string' },
  },
  'If-Unmodified-Since': {
    name: 'If-Unmodified-Since',
    in: 'header',
    required: false,
    description:
      'Without If-Match: refused with 412 (nothing written) when the user changed after this HTTP date; a value that ' +
      'is no date is ignored.',
    schema: { type: 'string' },
  },
  'If-Modified-Since': {
    name: 'If-Modified-Since',
    in: 'header',
    required: false,
    description: 'Without If-None-Match: 304 (no body) when the user has not changed since this HTTP date.',
    schema: { type: 'string' },
  },
  'Idempotency-Key': {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      '1 to 255 visible ASCII characters, per credential, kept 24 hours: a retry with the same key, path, preconditions ' +
      'and body gets the first answer (with `Idempotent-Replayed: true`) and writes once; the same key with another ' +
      'request gets 422, and while the first request runs, 409. A request that failed without writing releases its key.',
    schema: { type: 'string', pattern: IDEMPOTENCY_KEY.source },
  },
  dry_run: {
    name: 'dry_run',
    in: 'query',
    required: false,
    description:
      '`true`: nothing is written (no version, history or stored Idempotency-Key answer); the answer, success ' +
      'or error, is what the same request would get now, without an ETag. `false` or absent: a real write.',
    schema: { type: 'boolean', default: false },
  },
} as const;

type Operation = 'read' | 'write';

/** The error statuses an operation can answer with, each with what leads to it. */
function errorStatuses(operation: Operation, byId: boolean): Map<number, string[]> {
  const statuses = new Map<number, string[]>();
  for (const kind of FAILURE_KINDS) {
    const failure = FAILURES[kind];
    const reach = failure[operation];
    if (reach === 'none' || (reach === 'by-id' && !byId)) continue;
    const cause = typeof failure.cause === 'string' ? failure.cause : failure.cause[operation];
    const status = restStatusOf(kind);
    statuses.set(status, [...(statuses.get(status) ?? []), cause]);
  }
  return new Map([...statuses].sort(([a], [b]) => a - b));
}

function responseHeaders(endpoint: EndpointDefinition, operation: Operation, status: number) {
  const headers: Record<string, object> = {
    'X-Request-Id': header('X-Request-Id'),
    'Cache-Control': header('Cache-Control'),
    Vary: header('Vary'),
  };
  if (status === 200) {
    headers.ETag = header('ETag');
    headers['Last-Modified'] = header('Last-Modified');
  }
  // The write budget is spent when the mutation starts, so its headers come with the outcomes from there on.
  const afterBudget = operation === 'write' && [200, 400, 403, 404, 409, 412].includes(status);
  if (afterBudget || status === 429) for (const name of RATE_LIMIT_HEADERS) headers[name] = header(name);
  if (status === 429) headers['Retry-After'] = header('Retry-After');
  if (operation === 'write' && status === 200) headers['Idempotent-Replayed'] = header('Idempotent-Replayed');
  if (operation === 'write' && status === 415 && endpoint.write.method === 'patch')
    headers['Accept-Patch'] = header('Accept-Patch');
  if (status === 401) {
    headers['WWW-Authenticate'] = {
      description: 'The challenge naming the credential this endpoint takes',
      schema: { type: 'string', enum: [endpoint.credential.challenge] },
    };
  }
  return headers;
}

const json = (schemaName: string) => ({ 'application/json': { schema: ref(schemaName) } });

function responses(endpoint: EndpointDefinition, operation: Operation, byId: boolean) {
  const { schemas } = endpoint.openapi;
  const ok = operation === 'read' ? (schemas.readResponse ?? schemas.response) : schemas.response;
  const result: Record<string, object> = {
    '200': {
      description:
        operation === 'read' ? 'The user' : 'Updated (or unchanged, when the body changes nothing)',
      headers: responseHeaders(endpoint, operation, 200),
      content: json(ok),
    },
  };
  if (operation === 'read')
    result['304'] = {
      description:
        'Not Modified: If-None-Match names the current version, or (without If-None-Match) the user has not changed ' +
        'since If-Modified-Since (no body)',
      headers: {
        'X-Request-Id': header('X-Request-Id'),
        'Cache-Control': header('Cache-Control'),
        Vary: header('Vary'),
        ETag: header('ETag'),
        'Last-Modified': header('Last-Modified'),
      },
    };
  for (const [status, descriptions] of errorStatuses(operation, byId)) {
    result[String(status)] = {
      description: descriptions.join('; or '),
      headers: responseHeaders(endpoint, operation, status),
      content: json(schemas.error),
    };
  }
  return result;
}

/** The methods a path takes, and what it says to the others (405 is no documented operation's answer). */
function pathDescription(endpoint: EndpointDefinition): string {
  const method = endpoint.write.method.toUpperCase();
  return (
    `GET (also HEAD) reads the user and ${method} updates it. OPTIONS answers 204 with ` +
    `\`Allow: GET, HEAD, ${method}, OPTIONS\`${method === 'PATCH' ? ' and Accept-Patch (the media types PATCH takes)' : ''}; any other method is answered 405 with that Allow header and ` +
    `the endpoint's error body (${endpoint.openapi.schemas.error}).`
  );
}

/** Merges named component objects, refusing one name given two different meanings. */
function mergeNamed<T>(into: Record<string, T>, from: Readonly<Record<string, T>>, what: string): void {
  for (const [name, value] of Object.entries(from)) {
    if (Object.hasOwn(into, name) && JSON.stringify(into[name]) !== JSON.stringify(value)) {
      throw new Error(`OpenAPI: two endpoints declare different ${what} named ${name}`);
    }
    into[name] = value;
  }
}

const DESCRIPTION = `The five documented update-user endpoints, each a thin mapping onto the GraphQL updateMe/updateUser
mutations (and the me/user/userByNumericId queries for GET), so scopes, rights and validation are the same as on
/graphql. Each endpoint answers in its own document's shapes, errors included. This document is generated from the
endpoint modules' declarations (src/rest/*.route.ts).

- **Paths and operation ids.** An endpoint's first path is its full documented path, its document's server prefix
  included (\`/v2/user\`), and its operations carry the document's operationIds. A further path of the same endpoint is
  that path without the prefix (\`/user\`): the same operations, whose operationIds are the first path's followed by
  \`WithoutServerPrefix\` (\`updateCurrentUserWithoutServerPrefix\`).
- **Methods.** GET also answers HEAD; OPTIONS answers 204 with \`Allow\`; any other method gets 405 with \`Allow\`, in the
  endpoint's error shape (each path says which).
- **Versions.** User responses carry \`ETag: "<version>"\`; reads answer 304 to an \`If-None-Match\` naming it; writes
  take \`If-Match\` (412 when stale), \`If-None-Match\` (412 when it names the current version) and
  \`Idempotency-Key\` (a retry is answered once, with \`Idempotent-Replayed: true\`; 422 for a reused key, 409 while the
  first request runs).
- **Limits.** Writes are budgeted per credential (\`RateLimit-*\` headers, 429 with \`Retry-After\`); failed
  authentication is budgeted per client address (429 with \`Retry-After\` on every request from it until the window
  ends). Bodies over BODY_LIMIT_BYTES get 413.`;

/** The OpenAPI 3.1 description of the shim's routes, generated from the endpoints' definitions. */
export function openApiDocument(
  endpoints: readonly EndpointDefinition[],
  links: {
    tag: { name: string; description: string };
    paths: Record<string, object>;
    schemas: Record<string, JsonSchema>;
  },
) {
  const paths: Record<string, object> = { ...links.paths };
  const schemas: Record<string, JsonSchema> = { ...links.schemas };
  const securitySchemes: Record<string, SecurityScheme> = {};
  const operationIds = new Set<string>();
  const operationId = (id: string) => {
    if (operationIds.has(id)) throw new Error(`OpenAPI: operationId ${id} is used twice`);
    operationIds.add(id);
    return id;
  };

  for (const endpoint of endpoints) {
    const { openapi } = endpoint;
    mergeNamed(schemas, openapi.components, 'schemas');
    mergeNamed(securitySchemes, openapi.security, 'security schemes');
    const security = Object.keys(openapi.security).map((name) => ({ [name]: [] }));
    const pathParameters = Object.entries(openapi.pathParameters ?? {}).map(
      ([name, { description, schema }]) => ({
        name,
        in: 'path',
        required: true,
        description,
        schema,
      }),
    );
    const byId = pathParameters.length > 0;
    const [full] = endpoint.paths;
    endpoint.paths.forEach((template, index) => {
      const names = [...template.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]);
      if (names.join() !== pathParameters.map((p) => p.name).join()) {
        throw new Error(`OpenAPI: ${template} has parameters ${names.join()}, its endpoint declares others`);
      }
      if (index > 0 && (template === full || !full.endsWith(template))) {
        throw new Error(`OpenAPI: ${template} is not ${full} without a server prefix`);
      }
      const alias = index > 0;
      const prefix = full.slice(0, full.length - template.length);
      const operation = (which: Operation, facts: OperationFacts) => ({
        tags: [openapi.tag.name],
        operationId: operationId(alias ? aliasOperationId(facts.operationId) : facts.operationId),
        summary: alias
          ? `${facts.summary} (${documentPath(full)} without its ${prefix} prefix)`
          : facts.summary,
        ...(facts.description ? { description: facts.description } : {}),
        security,
        ...(which === 'write'
          ? {
              parameters: [
                parameter('If-Match'),
                parameter('If-None-Match'),
                parameter('If-Unmodified-Since'),
                parameter('Idempotency-Key'),
                parameter('dry_run'),
              ],
              requestBody: {
                required: true,
                content: Object.fromEntries(
                  writeMediaTypes(endpoint).map((type) => [type, { schema: ref(openapi.schemas.request) }]),
                ),
              },
            }
          : {
              parameters: [
                parameter('If-Match'),
                parameter('If-None-Match'),
                parameter('If-Unmodified-Since'),
                parameter('If-Modified-Since'),
              ],
            }),
        responses: responses(endpoint, which, byId),
      });
      paths[documentPath(template)] = {
        description: pathDescription(endpoint),
        parameters: [...pathParameters, parameter('X-Request-Id')],
        get: operation('read', openapi.read),
        [endpoint.write.method]: operation('write', openapi.write),
      };
    });
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'users-api REST endpoints',
      version: '1.0.0',
      description: DESCRIPTION,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [
      {
        url: '/',
        description: 'The server that serves this document (its own origin); /docs calls this one',
      },
      {
        url: 'http://{host}:{port}',
        description: 'A users-api server as npm start or docker run start it (its HOST and PORT settings)',
        variables: {
          host: { default: '127.0.0.1', description: 'HOST' },
          port: { default: '4000', description: 'PORT' },
        },
      },
    ],
    tags: [...endpoints.map(({ openapi }) => openapi.tag), links.tag],
    paths,
    components: { schemas, securitySchemes, parameters: PARAMETERS, headers: HEADERS },
  };
}

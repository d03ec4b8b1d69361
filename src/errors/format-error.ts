import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { AppError, type FieldError } from './app-error';
import { ErrorCode } from './error-code';

/** Codes Apollo and graphql-js assign to malformed requests; they are the client's, so they pass through. */
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * Whether an error is one we did not mean to raise: not ours (AppError), and not the client's own
 * malformed request. Errors without a path were raised before execution (parse, validation, variable
 * coercion): they describe the client's request and are safe to show.
 */
export function isUnexpected(error: unknown, path: unknown, code: unknown): boolean {
  if (unwrapResolverError(error) instanceof AppError) return false;
  if (path !== undefined) return true;
  return !((typeof code === 'string' && REQUEST_ERROR_CODES.has(code)) || refusedWithoutCode(error));
}

/**
 * A request Apollo refuses with a 4xx status but no code (a persisted query's version or hash it does
 * not take): the client's mistake, answered as BAD_REQUEST.
 */
function refusedWithoutCode(error: unknown): boolean {
  const original = unwrapResolverError(error) as {
    extensions?: { code?: unknown; http?: { status?: unknown } };
  };
  const status = original?.extensions?.http?.status;
  return (
    original?.extensions?.code === undefined && typeof status === 'number' && status >= 400 && status < 500
  );
}

/**
 * Keeps our own errors and request errors as they are; anything else becomes INTERNAL_SERVER_ERROR with
 * a fixed message, so SQL text and stack traces never reach a client. (Such errors are logged, with
 * their request id, by unexpectedErrorsPlugin.)
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) {
    // `http` is the transport's instruction (status, headers), not part of the error the client sees.
    const { http: _http, ...extensions } = original.extensions;
    return { message: original.message, locations: formatted.locations, path: formatted.path, extensions };
  }
  if (!isUnexpected(error, formatted.path, formatted.extensions?.code)) {
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    if (refusedWithoutCode(error)) extensions.code = 'BAD_REQUEST';
    const fields = extensions.code === ErrorCode.BAD_USER_INPUT ? variableFields(formatted.message) : null;
    return { ...formatted, extensions: fields ? { ...extensions, fields } : extensions };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/**
 * The field of a variable's value that graphql-js refused (a wrong type, an unknown enum value or
 * field, a required one missing), as `fields` says it for the rules' refusals: `role` for `$input`'s
 * `role`, the whole path (`items[0].input.role`) inside a list. Null for other messages.
 */
function variableFields(message: string): FieldError[] | null {
  const variable = /^Variable "\$([^"]+)"/.exec(message)?.[1];
  if (!variable) return null;
  // "Variable "$v" got invalid value <the value> at "v.path"; <the problem>": the value, printed, may
  // hold "; " and ' at "' itself, so the problem is what follows the last "; ", the path what ends the rest.
  const split = message.lastIndexOf('; ');
  const head = split >= 0 ? message.slice(0, split) : message;
  const at = / at "([^"]+)"$/.exec(head)?.[1] ?? variable;
  const named = /Field "([^"]+)" (?:is not defined by type|of required type)/.exec(message)?.[1];
  const inside = at === variable ? [] : [at.startsWith(`${variable}.`) ? at.slice(variable.length + 1) : at];
  const field = [...inside, ...(named ? [named] : [])].join('.') || variable;
  const problem = split >= 0 ? message.slice(split + 2) : message;
  return [{ field, message: `${field}: ${problem}` }];
}

/**
 * A request error without graphql-js's "Did you mean …?" (GRAPHQL_FIELD_SUGGESTIONS off): Apollo's
 * hideSchemaDetailsFromClientErrors leaves it in the errors of variables' values.
 */
export function withoutSuggestions(error: GraphQLFormattedError): GraphQLFormattedError {
  const message = withoutSuggestionText(error.message);
  return message === error.message ? error : { ...error, message };
}

/** A message without graphql-js's "Did you mean …?" and what Apollo leaves of one ("[Suggestion hidden]?"). */
export function withoutSuggestionText(message: string): string {
  return message.replace(/ ?(?:Did you mean [^?]*\?|\[Suggestion hidden\]\??)/g, '');
}

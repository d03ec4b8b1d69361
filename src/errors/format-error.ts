import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { AppError } from './app-error';
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
  return !(path === undefined && typeof code === 'string' && REQUEST_ERROR_CODES.has(code));
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
    return { ...formatted, extensions };
  }
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/**
 * A request error without graphql-js's "Did you mean …?" (GRAPHQL_FIELD_SUGGESTIONS off): Apollo's
 * hideSchemaDetailsFromClientErrors leaves it in the errors of variables' values.
 */
export function withoutSuggestions(error: GraphQLFormattedError): GraphQLFormattedError {
  const message = error.message.replace(/ ?Did you mean [^?]*\?/g, '');
  return message === error.message ? error : { ...error, message };
}

import { ErrorCode, httpStatusOf } from '../errors/error-code';
import { FAILURE_KINDS, type FailureKind, RestFailure, TransportFailure } from './rest-failure';

/** The five documented endpoints, by the number of their source document. */
export type EndpointId = '000' | '001' | '002' | '003' | '004';

/** The one failure → HTTP status table of the shim; service codes defer to the app-wide table. */
export function restStatusOf(kind: FailureKind): number {
  switch (kind) {
    case TransportFailure.UNSUPPORTED_MEDIA_TYPE:
      return 415;
    case TransportFailure.PAYLOAD_TOO_LARGE:
      return 413;
    case TransportFailure.METHOD_NOT_ALLOWED:
      return 405;
    case TransportFailure.PRECONDITION_FAILED:
      return 412;
    case TransportFailure.IDEMPOTENCY_KEY_REUSED:
      return 422;
    case TransportFailure.IDEMPOTENCY_IN_PROGRESS:
      return 409;
    default:
      return httpStatusOf(kind);
  }
}

/** Document 002's `error` names. */
function errorName002(kind: FailureKind): string {
  switch (kind) {
    case ErrorCode.BAD_USER_INPUT:
      return 'validation_error';
    case ErrorCode.UNAUTHENTICATED:
      return 'unauthorized';
    case ErrorCode.FORBIDDEN:
      return 'forbidden';
    case ErrorCode.NOT_FOUND:
      return 'not_found';
    case ErrorCode.CONFLICT:
    case TransportFailure.IDEMPOTENCY_IN_PROGRESS:
      return 'conflict';
    case ErrorCode.RATE_LIMITED:
      return 'rate_limited';
    case TransportFailure.PRECONDITION_FAILED:
      return 'precondition_failed';
    case TransportFailure.IDEMPOTENCY_KEY_REUSED:
      return 'idempotency_key_reused';
    case ErrorCode.INTERNAL_SERVER_ERROR:
      return 'internal_error';
    case TransportFailure.UNSUPPORTED_MEDIA_TYPE:
      return 'unsupported_media_type';
    case TransportFailure.PAYLOAD_TOO_LARGE:
      return 'payload_too_large';
    case TransportFailure.METHOD_NOT_ALLOWED:
      return 'method_not_allowed';
  }
}

/** Every `error` name document 002's error body can carry, for its schema. */
export const ERROR_NAMES_002: readonly string[] = [...new Set(FAILURE_KINDS.map(errorName002))];

/** The failure's message, with every invalid field spelled out when the body has nowhere else to put them. */
function fullMessage(failure: RestFailure): string {
  if (failure.fields.length === 0) return failure.message;
  return `${failure.message}: ${failure.fields.map((f) => f.message).join('; ')}`;
}

/** A Map, not an object literal: a field named `__proto__` or `constructor` must stay an ordinary key. */
function details002(failure: RestFailure): Record<string, string[]> {
  const details = new Map<string, string[]>();
  for (const { field, message } of failure.fields)
    details.set(field, [...(details.get(field) ?? []), message]);
  return Object.fromEntries(details);
}

/** Each endpoint's error body, in the shape its document gives (or the closest one where it gives none). */
export function errorBody(endpoint: EndpointId, failure: RestFailure): unknown {
  const status = restStatusOf(failure.kind);
  switch (endpoint) {
    case '000':
      return { code: status, message: fullMessage(failure) };
    case '001':
      return { status, message: fullMessage(failure) };
    case '002':
      return failure.fields.length > 0
        ? { error: errorName002(failure.kind), message: failure.message, details: details002(failure) }
        : { error: errorName002(failure.kind), message: failure.message };
    case '003':
      return { success: false, error: fullMessage(failure) };
    case '004':
      return {
        errors:
          failure.fields.length > 0
            ? failure.fields
            : [
                failure.field
                  ? { field: failure.field, message: failure.message }
                  : { message: failure.message },
              ],
      };
  }
}

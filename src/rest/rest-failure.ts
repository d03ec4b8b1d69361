import { ErrorCode } from '../errors/error-code';
import type { FieldError } from '../errors/app-error';
import type { BodyError } from '../http/body';

/** Failures only the HTTP transport can have; everything else is a service ErrorCode. */
export enum TransportFailure {
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED',
  /** If-Match named a version that is no longer current. */
  PRECONDITION_FAILED = 'PRECONDITION_FAILED',
  /** An Idempotency-Key came back with a different request. */
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  /** The first request with this Idempotency-Key has not finished yet. */
  IDEMPOTENCY_IN_PROGRESS = 'IDEMPOTENCY_IN_PROGRESS',
}

export type FailureKind = ErrorCode | TransportFailure;

/** Every failure the shim can answer with: the service codes and the transport's own. */
export const FAILURE_KINDS: readonly FailureKind[] = [
  ...Object.values(ErrorCode),
  ...Object.values(TransportFailure),
];

/** A refusal on its way to an endpoint's error body; `fields` name the endpoint's own fields once renamed. */
export class RestFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly fields: FieldError[] = [],
    /** The one field a CONFLICT is about, when there is one. */
    readonly field?: string,
    /** True when `fields` still carry GraphQL input names, to be renamed to the endpoint's. */
    readonly graphqlNames = false,
    /** Extra response headers (Retry-After and RateLimit-* on 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  static badInput(fields: FieldError[], message = 'Invalid request parameters'): RestFailure {
    return new RestFailure(ErrorCode.BAD_USER_INPUT, message, fields);
  }

  /** A request body that could not be read: 415 for its media type, 413 for its size, else 400. */
  static body(error: BodyError): RestFailure {
    if (error.refusal === 'media-type' || error.refusal === 'unsupported')
      return new RestFailure(TransportFailure.UNSUPPORTED_MEDIA_TYPE, error.message);
    if (error.refusal === 'too-large')
      return new RestFailure(TransportFailure.PAYLOAD_TOO_LARGE, error.message);
    return RestFailure.badInput([], error.message);
  }
}

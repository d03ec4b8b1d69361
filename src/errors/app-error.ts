import { GraphQLError } from 'graphql';
import { ErrorCode } from './error-code';

/** One invalid input field and why. */
export interface FieldError {
  field: string;
  message: string;
}

/** Base of every error the API raises on purpose: the class fixes `extensions.code`. */
export abstract class AppError extends GraphQLError {
  abstract readonly code: ErrorCode;

  protected constructor(message: string, code: ErrorCode, extensions: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extensions, code } });
  }
}

export class UnauthenticatedError extends AppError {
  readonly code = ErrorCode.UNAUTHENTICATED;
  constructor(message = 'Authentication required: send a valid credential') {
    super(message, ErrorCode.UNAUTHENTICATED);
  }
}

export class ForbiddenError extends AppError {
  readonly code = ErrorCode.FORBIDDEN;
  constructor(message: string) {
    super(message, ErrorCode.FORBIDDEN);
  }
}

export class NotFoundError extends AppError {
  readonly code = ErrorCode.NOT_FOUND;
  constructor(message = 'User not found') {
    super(message, ErrorCode.NOT_FOUND);
  }
}

/** Carries every invalid field at once in `extensions.fields`. */
export class BadUserInputError extends AppError {
  readonly code = ErrorCode.BAD_USER_INPUT;
  readonly fields: FieldError[];
  constructor(fields: FieldError[], message?: string) {
    super(
      message ?? `Invalid input: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}`,
      ErrorCode.BAD_USER_INPUT,
      {
        fields,
      },
    );
    this.fields = fields;
  }
}

/** A uniqueness, version or invariant conflict; `field` names what collided when one did. */
export class ConflictError extends AppError {
  readonly code = ErrorCode.CONFLICT;
  readonly field: string | undefined;
  constructor(message: string, details: { field?: string; currentVersion?: number } = {}) {
    super(message, ErrorCode.CONFLICT, { ...details });
    this.field = details.field;
  }
}

/** A budget is spent (writes per credential, or failed authentications per address). */
export class RateLimitedError extends AppError {
  readonly code = ErrorCode.RATE_LIMITED;
  constructor(
    message: string,
    /** Response headers that tell the client when to come back (RateLimit-*, Retry-After). */
    readonly headers: Record<string, string>,
  ) {
    super(message, ErrorCode.RATE_LIMITED, { retryAfterSeconds: Number(headers['Retry-After'] ?? 0) });
  }
}

import { uniqueViolation } from '../db/database';
import { ConflictError } from '../errors/app-error';

/** The CONFLICT of an email or username another user of the organization has. */
export function takenConflict(field: 'email' | 'username'): ConflictError {
  return new ConflictError(field === 'email' ? 'Email already taken' : 'Username already taken', { field });
}

/** The CONFLICT a unique-index refusal means, or null for any other error. */
export function conflictFrom(error: unknown): ConflictError | null {
  const violation = uniqueViolation(error);
  if (!violation) return null;
  if (/email/i.test(violation.constraint)) return takenConflict('email');
  if (/username/i.test(violation.constraint)) return takenConflict('username');
  return new ConflictError('A unique value is already taken');
}

import { validate } from 'class-validator';
import { BadUserInputError, FieldError } from '../../errors/app-error';

/**
 * Validates a decorated input object and throws one BAD_USER_INPUT listing every invalid field. The
 * rules skip a field that is absent (an update leaves it alone); `required` names those that must be there.
 */
export async function validateInput(input: object, required: readonly string[] = []): Promise<void> {
  const values = input as Record<string, unknown>;
  const missing: FieldError[] = required
    .filter((field) => values[field] === undefined || values[field] === null)
    .map((field) => ({ field, message: `${field} is required` }));
  const errors = await validate(input, {
    skipMissingProperties: false,
    forbidUnknownValues: false,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
  });
  const invalid: FieldError[] = errors
    .filter((error) => !missing.some(({ field }) => field === error.property))
    .map((error) => ({
      field: error.property,
      message: `${error.property} ${Object.values(error.constraints ?? {})[0] ?? 'is invalid'}`,
    }));
  if (missing.length + invalid.length > 0) throw new BadUserInputError([...missing, ...invalid]);
}

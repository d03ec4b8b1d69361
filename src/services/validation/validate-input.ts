import { validate } from 'class-validator';
import { BadUserInputError, FieldError } from '../../errors/app-error';

/** Validates a decorated input object and throws one BAD_USER_INPUT listing every invalid field. */
export async function validateInput(input: object): Promise<void> {
  const errors = await validate(input, {
    skipMissingProperties: false,
    forbidUnknownValues: false,
    stopAtFirstError: true,
    validationError: { target: false, value: false },
  });
  if (errors.length === 0) return;
  const fields: FieldError[] = errors.map((error) => ({
    field: error.property,
    message: `${error.property} ${Object.values(error.constraints ?? {})[0] ?? 'is invalid'}`,
  }));
  throw new BadUserInputError(fields);
}

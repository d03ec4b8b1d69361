import type { FieldError } from '../errors/app-error';
import { RestFailure } from './rest-failure';

/** A request body: one JSON object. */
export type JsonObject = Record<string, unknown>;

/** How a JSON value becomes a GraphQL input value; `values` maps a documented enum spelling to GraphQL's. */
export type FieldType =
  | { kind: 'string' }
  | { kind: 'strings' }
  | { kind: 'object' }
  | { kind: 'enum'; values: Readonly<Record<string, string>> };

/** One documented body field and the GraphQL input field it is. */
export interface FieldSpec {
  rest: string;
  graphql: string;
  type: FieldType;
  required?: boolean;
}

export const text: FieldType = { kind: 'string' };
export const strings: FieldType = { kind: 'strings' };
export const object: FieldType = { kind: 'object' };

/** An enum whose stored (documented) values are the TypeScript enum's values and GraphQL names its keys. */
export function enumOf(values: Record<string, string>): FieldType {
  return { kind: 'enum', values: Object.fromEntries(Object.entries(values).map(([key, v]) => [v, key])) };
}

/** The GraphQL enum name back to the documented spelling. */
export function documentedValue(values: Record<string, string>, graphqlName: string): string {
  return values[graphqlName] ?? graphqlName;
}

function typeProblem(spec: FieldSpec, value: unknown): string | null {
  if (value === null) return null;
  switch (spec.type.kind) {
    case 'string':
      return typeof value === 'string' ? null : `${spec.rest} must be a string`;
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string')
        ? null
        : `${spec.rest} must be a list of strings`;
    case 'object':
      return typeof value === 'object' && !Array.isArray(value) ? null : `${spec.rest} must be a JSON object`;
    case 'enum':
      return typeof value === 'string' && Object.hasOwn(spec.type.values, value)
        ? null
        : `${spec.rest} must be one of ${Object.keys(spec.type.values).join(', ')}`;
  }
}

export interface Translation {
  input: Record<string, unknown>;
  problems: FieldError[];
}

/**
 * Renames documented fields to GraphQL input fields and converts enum spellings. Shape only: unknown
 * fields and wrong JSON types are reported by name; every rule beyond shape stays in the GraphQL layer.
 * `null` passes through (it clears a nullable field; GraphQL refuses it for a required one).
 */
export function translateBody(
  body: JsonObject,
  specs: readonly FieldSpec[],
  skip: readonly string[] = [],
): Translation {
  const input: Record<string, unknown> = {};
  const problems: FieldError[] = [];
  for (const key of Object.keys(body)) {
    if (skip.includes(key)) continue;
    const spec = specs.find((s) => s.rest === key);
    if (!spec) {
      problems.push({ field: key, message: `${key} is not a field of this endpoint` });
      continue;
    }
    const value = body[key];
    const problem = typeProblem(spec, value);
    if (problem) problems.push({ field: key, message: problem });
    else
      input[spec.graphql] =
        spec.type.kind === 'enum' && value !== null ? spec.type.values[value as string] : value;
  }
  for (const spec of specs) {
    if (spec.required && !Object.hasOwn(body, spec.rest)) {
      problems.push({ field: spec.rest, message: `${spec.rest} is required` });
    }
  }
  return { input, problems };
}

/** Throws the 400 for the problems found, if any. */
export function refuseProblems(problems: FieldError[]): void {
  if (problems.length > 0) throw RestFailure.badInput(problems);
}

/** Rewrites GraphQL field names (and the messages that start with them) into the endpoint's names. */
export function renameFailure(failure: RestFailure, specs: readonly FieldSpec[]): RestFailure {
  if (!failure.graphqlNames) return failure;
  const rename = (field: string) => specs.find((s) => s.graphql === field)?.rest ?? field;
  const fields = failure.fields.map(({ field, message }) => {
    const rest = rename(field);
    return {
      field: rest,
      message:
        rest !== field && message.startsWith(`${field} `) ? `${rest}${message.slice(field.length)}` : message,
    };
  });
  const message = fields.length > 0 ? 'Invalid request parameters' : failure.message;
  return new RestFailure(failure.kind, message, fields, failure.field && rename(failure.field));
}

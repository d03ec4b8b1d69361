import type { ApolloServer } from '@apollo/server';
import type { RequestContext } from '../auth/principal';
import type { FieldError } from '../errors/app-error';
import { ErrorCode, isErrorCode } from '../errors/error-code';
import { RestFailure } from './rest-failure';

/** The user as the shim selects it from GraphQL (enum values in their GraphQL spelling). */
export interface GqlUser {
  id: string;
  numericId: number;
  uuid: string;
  email: string;
  name: string;
  username: string | null;
  firstName: string | null;
  lastName: string | null;
  role: string;
  status: string;
  creditsBalance: number;
  jobTitle: string | null;
  companyName: string | null;
  experiments: string[];
  projectsSortOrder: string | null;
  timezone: string | null;
  metadata: Record<string, string | number | boolean>;
  createdAt: string;
  updatedAt: string;
}

const USER = `id numericId uuid email name username firstName lastName role status creditsBalance
  jobTitle companyName experiments projectsSortOrder timezone metadata createdAt updatedAt`;

/** The only operations the shim sends: each endpoint is a mapping onto one of these. */
export const Operations = {
  me: `query RestMe { me { ${USER} } }`,
  user: `query RestUser($id: ID!) { user(id: $id) { ${USER} } }`,
  userByNumericId: `query RestUserByNumericId($numericId: Int!) { userByNumericId(numericId: $numericId) { ${USER} } }`,
  updateMe: `mutation RestUpdateMe($input: UpdateMeInput!) { updateMe(input: $input) { ${USER} } }`,
  updateUser: `mutation RestUpdateUser($id: ID!, $input: UpdateUserInput!) {
    updateUser(id: $id, input: $input) { ${USER} } }`,
} as const;

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}

function isFieldErrorList(value: unknown): value is FieldError[] {
  return (
    Array.isArray(value) && value.every((f) => typeof f?.field === 'string' && typeof f?.message === 'string')
  );
}

/** Turns the first GraphQL error into a RestFailure carrying its code; anything unexpected is internal. */
function failureOf(error: GqlError, logError: (error: unknown) => void): RestFailure {
  const code = error.extensions?.code;
  if (!isErrorCode(code) || code === ErrorCode.INTERNAL_SERVER_ERROR) {
    if (!isErrorCode(code)) logError(new Error(`REST shim sent a failing operation: ${error.message}`));
    return new RestFailure(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
  }
  const fields = isFieldErrorList(error.extensions?.fields) ? error.extensions.fields : [];
  const field = typeof error.extensions?.field === 'string' ? error.extensions.field : undefined;
  return new RestFailure(code, error.message, fields, field, true);
}

/** Runs one operation through Apollo exactly as /graphql would, as the principal in `ctx`. */
export type GraphqlCaller = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

export function graphqlCaller(
  apollo: ApolloServer<RequestContext>,
  contextValue: RequestContext,
  logError: (error: unknown) => void,
): GraphqlCaller {
  return async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const response = await apollo.executeOperation<Record<string, unknown>>(
      { query, variables },
      { contextValue },
    );
    if (response.body.kind !== 'single') throw new Error('unexpected incremental GraphQL response');
    const { data, errors } = response.body.singleResult;
    if (errors?.length) throw failureOf(errors[0] as GqlError, logError);
    return data as T;
  };
}

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
  /** Only to the user and admins, while a change of the user's own email awaits confirmation. */
  pendingEmail: string | null;
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
  version: number;
}

export type UserField = keyof GqlUser;

/** A user as selected by `userOperations(fields)`: those fields, the version and the last change's time. */
export type SelectedUser<F extends UserField> = Pick<GqlUser, F | 'version' | 'updatedAt'>;

/**
 * The only operations the shim sends (each endpoint is a mapping onto some of these), selecting the
 * user fields the endpoint's bodies use, the version and updatedAt (ETag, Last-Modified). Every field selected is one
 * more for GraphQL to resolve and serialize: with the whole user, 003's write (whose answer carries
 * none) answered about a fifth fewer requests a second.
 */
export function userOperations<F extends UserField>(fields: readonly F[]) {
  const user = [...new Set<UserField>([...fields, 'version', 'updatedAt'])].join(' ');
  return {
    me: `query RestMe { me { ${user} } }`,
    user: `query RestUser($id: ID!) { user(id: $id) { ${user} } }`,
    userByNumericId: `query RestUserByNumericId($numericId: Int!) { userByNumericId(numericId: $numericId) { ${user} } }`,
    updateMe: `mutation RestUpdateMe($input: UpdateMeInput!, $expectedVersion: Int, $dryRun: Boolean) {
    updateMe(input: $input, expectedVersion: $expectedVersion, dryRun: $dryRun) { ${user} } }`,
    updateUser: `mutation RestUpdateUser($id: ID!, $input: UpdateUserInput!, $expectedVersion: Int, $dryRun: Boolean) {
    updateUser(id: $id, input: $input, expectedVersion: $expectedVersion, dryRun: $dryRun) { ${user} } }`,
  } as const;
}

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
  // A budget a service keeps (email change confirmations) says when to come back in the error itself.
  const retryAfter = error.extensions?.retryAfterSeconds;
  const headers: Record<string, string> =
    typeof retryAfter === 'number' && retryAfter > 0 ? { 'Retry-After': String(retryAfter) } : {};
  return new RestFailure(code, error.message, fields, field, true, headers);
}

/** Runs one operation through Apollo exactly as /graphql would, as the principal in `ctx`. */
export type GraphqlCaller = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

/** What one REST request passes to its GraphQL operations and collects from them besides data (one per request). */
export interface OperationState {
  /** From If-Match: every mutation is sent with it as `expectedVersion`. */
  expectedVersion?: number;
  /** From `?dry_run=true`: every mutation is sent with `dryRun`. */
  dryRun?: boolean;
  /** The version of the user the last operation returned, for the ETag. */
  version?: number;
  /** When that user last changed, for Last-Modified. */
  updatedAt?: string;
  /** Response headers the operations produced (RateLimit-*, Retry-After). */
  headers: Record<string, string>;
}

const PASSED_HEADERS = /^(ratelimit-|retry-after$)/i;

export function graphqlCaller(
  apollo: ApolloServer<RequestContext>,
  contextValue: RequestContext,
  logError: (error: unknown) => void,
  operationState: OperationState = { headers: {} },
): GraphqlCaller {
  return async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const isMutation = query.trimStart().startsWith('mutation');
    const response = await apollo.executeOperation<Record<string, unknown>>(
      {
        query,
        variables: isMutation
          ? { ...variables, expectedVersion: operationState.expectedVersion, dryRun: operationState.dryRun }
          : variables,
      },
      { contextValue },
    );
    for (const [name, value] of response.http.headers) {
      if (PASSED_HEADERS.test(name)) operationState.headers[name] = value;
    }
    if (response.body.kind !== 'single') throw new Error('unexpected incremental GraphQL response');
    const { data, errors } = response.body.singleResult;
    if (errors?.length) throw failureOf(errors[0] as GqlError, logError);
    const root = data ? Object.values(data)[0] : undefined;
    if (root && typeof root === 'object' && typeof (root as GqlUser).version === 'number') {
      operationState.version = (root as GqlUser).version;
      operationState.updatedAt = (root as GqlUser).updatedAt;
    }
    return data as T;
  };
}

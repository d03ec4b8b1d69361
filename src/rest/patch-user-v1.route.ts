import { CredentialKind, Role } from '../entities/enums';
import { ErrorCode } from '../errors/error-code';
import type { EndpointDefinition } from './endpoint-definition';
import { documentedValue, enumOf, refuseProblems, text, translateBody, type FieldSpec } from './field-map';
import { ERROR_NAMES_002 } from './error-table';
import { userOperations, type SelectedUser } from './graphql-call';
import { dateTime, nullableString, pendingEmail, pendingEmailField } from './openapi';
import { RestFailure } from './rest-failure';

const FIELDS: readonly FieldSpec[] = [
  { rest: 'email', graphql: 'email', type: text },
  { rest: 'username', graphql: 'username', type: text },
  { rest: 'first_name', graphql: 'firstName', type: text },
  { rest: 'last_name', graphql: 'lastName', type: text },
  { rest: 'role', graphql: 'role', type: enumOf(Role) },
];

/** `me` names the caller on 001's route, never a user; the router sends it there first. */
function userIdOf(params: Record<string, string>): string {
  if (params.user_id.toLowerCase() === 'me') throw new RestFailure(ErrorCode.NOT_FOUND, 'User not found');
  return params.user_id;
}

const USER_FIELDS = [
  'id',
  'email',
  'pendingEmail',
  'username',
  'firstName',
  'lastName',
  'role',
  'createdAt',
  'updatedAt',
] as const;
const operations = userOperations(USER_FIELDS);
type User = SelectedUser<(typeof USER_FIELDS)[number]>;

/** Document 002's user: snake_case, role in lower case. */
export function snakeCaseUserBody(user: User) {
  return {
    id: user.id,
    email: user.email,
    ...pendingEmailField('pending_email', user),
    username: user.username,
    first_name: user.firstName,
    last_name: user.lastName,
    role: documentedValue(Role, user.role),
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}

/** 002: `PATCH /v1/users/{user_id}`: `updateUser`, with an API key or OAuth token as Authorization: Bearer. */
export const patchUserV1: EndpointDefinition = {
  id: '002',
  paths: ['/v1/users/:user_id'],
  credential: {
    accepts: (c) =>
      c.source === 'authorization' && (c.kind === CredentialKind.API_KEY || c.kind === CredentialKind.OAUTH),
    requirement: 'an API key (key_…) or OAuth token (oat_…) as Authorization: Bearer',
    challenge: 'Bearer realm="users-api"',
  },
  fields: FIELDS,
  async read({ graphql, params }) {
    const data = await graphql<{ user: User | null }>(operations.user, { id: userIdOf(params) });
    if (!data.user) throw new RestFailure(ErrorCode.NOT_FOUND, 'User not found');
    return { body: snakeCaseUserBody(data.user) };
  },
  write: {
    method: 'patch',
    mediaTypes: ['application/json', 'application/merge-patch+json'],
    async handle({ graphql, params }, body) {
      const { input, problems } = translateBody(body, FIELDS);
      refuseProblems(problems);
      const data = await graphql<{ updateUser: User }>(operations.updateUser, {
        id: userIdOf(params),
        input,
      });
      return { body: snakeCaseUserBody(data.updateUser) };
    },
  },
  openapi: {
    tag: {
      name: '002',
      description: 'Document 002: update a user by public id with an API key or OAuth token',
    },
    read: { operationId: 'getUserV1', summary: 'Read a user (document 002)' },
    write: {
      operationId: 'updateUserV1',
      summary: 'Update User (document 002): an API key or OAuth token with the write scope',
    },
    security: {
      bearerKeyOrOAuth: {
        type: 'http',
        scheme: 'bearer',
        description:
          'An API key (key_…) or OAuth token (oat_…) with the write (or users:write) scope; GET needs read',
      },
    },
    pathParameters: {
      user_id: { description: 'The public id of the user (usr_…)', schema: { type: 'string' } },
    },
    schemas: { request: 'UpdateUser002Request', response: 'User002', error: 'Error002' },
    components: {
      UpdateUser002Request: {
        type: 'object',
        additionalProperties: false,
        description: 'All fields are optional; null clears username, first_name or last_name',
        properties: {
          email: { type: 'string' },
          username: nullableString,
          first_name: nullableString,
          last_name: nullableString,
          role: { type: 'string', enum: Object.values(Role) },
        },
      },
      User002: {
        type: 'object',
        required: ['id', 'email', 'username', 'first_name', 'last_name', 'role', 'created_at', 'updated_at'],
        properties: {
          id: { type: 'string' },
          email: { type: 'string' },
          pending_email: pendingEmail,
          username: nullableString,
          first_name: nullableString,
          last_name: nullableString,
          role: { type: 'string', enum: Object.values(Role) },
          created_at: dateTime,
          updated_at: dateTime,
        },
      },
      Error002: {
        type: 'object',
        required: ['error', 'message'],
        properties: {
          error: { type: 'string', enum: ERROR_NAMES_002 },
          message: { type: 'string' },
          details: {
            type: 'object',
            description: 'The invalid fields, each with its messages',
            additionalProperties: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  },
};

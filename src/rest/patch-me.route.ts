import { CredentialKind, UserStatus } from '../entities/enums';
import type { EndpointDefinition } from './endpoint-definition';
import { refuseProblems, text, translateBody, type FieldSpec } from './field-map';
import { userOperations, type SelectedUser } from './graphql-call';
import { dateTime, pendingEmail, pendingEmailField } from './openapi';

const FIELDS: readonly FieldSpec[] = [{ rest: 'name', graphql: 'name', type: text }];

const USER_FIELDS = [
  'uuid',
  'createdAt',
  'updatedAt',
  'status',
  'name',
  'email',
  'pendingEmail',
  'creditsBalance',
] as const;
const operations = userOperations(USER_FIELDS);
type User = SelectedUser<(typeof USER_FIELDS)[number]>;

/** Document 001's `UserResponse`: the uuid as `id`, snake_case timestamps and balance. */
export function userResponseBody(user: User) {
  return {
    id: user.uuid,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    status: user.status,
    name: user.name,
    email: user.email,
    ...pendingEmailField('pending_email', user),
    credits_balance: user.creditsBalance,
  };
}

/** 001: `PATCH /v1/users/me`: `updateMe { name }` with an API key in `x-api-key`. */
export const patchMe: EndpointDefinition = {
  id: '001',
  paths: ['/v1/users/me'],
  credential: {
    accepts: (c) => c.kind === CredentialKind.API_KEY && c.source === 'x-api-key',
    requirement: 'an API key (key_…) in the x-api-key header',
    challenge: 'ApiKey realm="users-api", header="x-api-key"',
  },
  fields: FIELDS,
  async read({ graphql }) {
    const data = await graphql<{ me: User }>(operations.me);
    return { body: userResponseBody(data.me) };
  },
  write: {
    method: 'patch',
    mediaTypes: ['application/json', 'application/merge-patch+json'],
    async handle({ graphql }, body) {
      const { input, problems } = translateBody(body, FIELDS);
      refuseProblems(problems);
      const data = await graphql<{ updateMe: User }>(operations.updateMe, { input });
      return { body: userResponseBody(data.updateMe) };
    },
  },
  openapi: {
    tag: { name: '001', description: 'Document 001: update the current user’s information with an API key' },
    read: {
      operationId: 'getCurrentUserInformation',
      summary: 'Read current user information (document 001)',
    },
    write: {
      operationId: 'updateCurrentUserInformation',
      summary: 'Update current user information (document 001)',
    },
    security: {
      ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key (key_…)' },
    },
    schemas: { request: 'UserUpdate', response: 'UserResponse', error: 'ErrorResponse' },
    components: {
      UserUpdate: {
        type: 'object',
        additionalProperties: false,
        properties: { name: { type: 'string', description: 'The updated name of the user' } },
      },
      UserResponse: {
        type: 'object',
        required: ['id', 'created_at', 'updated_at', 'status', 'name', 'email', 'credits_balance'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          created_at: dateTime,
          updated_at: dateTime,
          status: {
            type: 'string',
            enum: Object.keys(UserStatus),
            description: 'The GraphQL UserStatus name',
          },
          name: { type: 'string' },
          email: { type: 'string', format: 'email' },
          pending_email: pendingEmail,
          credits_balance: { type: 'integer', description: "The user's current credit balance" },
        },
      },
      ErrorResponse: {
        type: 'object',
        required: ['status', 'message'],
        properties: {
          status: { type: 'integer', description: 'The HTTP status' },
          message: { type: 'string' },
        },
      },
    },
  },
};

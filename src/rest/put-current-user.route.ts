import { CredentialKind, Role } from '../entities/enums';
import type { EndpointDefinition } from './endpoint-definition';
import { documentedValue, refuseProblems, text, translateBody, type FieldSpec } from './field-map';
import { userOperations, type SelectedUser } from './graphql-call';
import { pendingEmail, pendingEmailField, ref } from './openapi';

const FIELDS: readonly FieldSpec[] = [{ rest: 'name', graphql: 'name', type: text, required: true }];

const ROLE_NAMES: Record<Role, string> = {
  [Role.ADMIN]: 'Admin',
  [Role.MEMBER]: 'Member',
  [Role.VIEWER]: 'Viewer',
};

const USER_FIELDS = ['id', 'name', 'email', 'pendingEmail', 'role'] as const;
const operations = userOperations(USER_FIELDS);
type User = SelectedUser<(typeof USER_FIELDS)[number]>;

/** Document 000's `User`: `role` is an object with a stable id and a human-readable name. */
export function currentUserBody(user: User) {
  const role = documentedValue(Role, user.role) as Role;
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    ...pendingEmailField('pendingEmail', user),
    role: { id: `role_${role}`, name: ROLE_NAMES[role] },
  };
}

/** 000: `PUT /v2/user` (Axiom's v2 server URL) and the bare `PUT /user`: `updateMe { name }`, PAT only. */
export const putCurrentUser: EndpointDefinition = {
  id: '000',
  paths: ['/v2/user', '/user'],
  credential: {
    accepts: (c) => c.kind === CredentialKind.PERSONAL_ACCESS_TOKEN && c.source === 'authorization',
    requirement:
      'a personal access token (pat_…) as Authorization: Bearer; API keys and other tokens cannot update the current user',
    challenge: 'Bearer realm="users-api"',
  },
  fields: FIELDS,
  async read({ graphql }) {
    const data = await graphql<{ me: User }>(operations.me);
    return { body: currentUserBody(data.me) };
  },
  write: {
    method: 'put',
    async handle({ graphql }, body) {
      const { input, problems } = translateBody(body, FIELDS);
      refuseProblems(problems);
      const data = await graphql<{ updateMe: User }>(operations.updateMe, { input });
      return { body: currentUserBody(data.updateMe) };
    },
  },
  openapi: {
    tag: {
      name: '000',
      description: 'Document 000: update the current user (Axiom, server https://api.axiom.co/v2/)',
    },
    read: { operationId: 'getCurrentUser', summary: 'Read the current user (document 000)' },
    write: {
      operationId: 'updateCurrentUser',
      summary: 'Update current user (document 000): only a personal access token is accepted',
    },
    security: {
      patAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'A personal access token (pat_…); API keys and other tokens are refused with 403',
      },
    },
    schemas: { request: 'UpdateCurrentUserRequest', response: 'User', error: 'Error000' },
    components: {
      UpdateCurrentUserRequest: {
        description: 'Object representing a user update request',
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: {
          name: { description: 'New name for the user', type: 'string', examples: ['John Smith'] },
        },
      },
      User: {
        description: 'Represents a user in the system (document 000)',
        type: 'object',
        required: ['id', 'name', 'email', 'role'],
        properties: {
          email: { description: "User's email address", type: 'string' },
          pendingEmail,
          id: { description: 'Unique identifier for the user', type: 'string', examples: ['usr_123456789'] },
          name: { description: "User's full name", type: 'string' },
          role: ref('UserDetailsRole'),
        },
      },
      UserDetailsRole: {
        description: "Detailed information about a user's role",
        type: 'object',
        required: ['id', 'name'],
        properties: {
          id: { type: 'string', enum: Object.values(Role).map((role) => `role_${role}`) },
          name: {
            description: 'Human-readable name of the role',
            type: 'string',
            enum: Object.values(ROLE_NAMES),
          },
        },
      },
      Error000: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'integer', description: 'The HTTP status' },
          message: { type: 'string' },
        },
      },
    },
  },
};

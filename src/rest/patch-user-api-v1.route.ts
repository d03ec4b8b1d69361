import { Role } from '../entities/enums';
import { ErrorCode } from '../errors/error-code';
import type { FieldError } from '../errors/app-error';
import type { EndpointDefinition, JsonObject, ShimCall } from './endpoint-definition';
import {
  documentedValue,
  enumOf,
  object,
  refuseProblems,
  text,
  translateBody,
  type FieldSpec,
} from './field-map';
import { userOperations, type SelectedUser } from './graphql-call';
import { dateTime, pendingEmail, pendingEmailField } from './openapi';

import { RestFailure } from './rest-failure';

const FIELDS: readonly FieldSpec[] = [
  { rest: 'name', graphql: 'name', type: text },
  { rest: 'email', graphql: 'email', type: text },
  { rest: 'role', graphql: 'role', type: enumOf(Role) },
  { rest: 'metadata', graphql: 'metadata', type: object },
];

/** Set by the server; a body may repeat their current values (a client writing back what it read) but not change them. */
const READ_ONLY = ['id', 'createdAt', 'updatedAt', 'pendingEmail'] as const;

const USER_FIELDS = [
  'id',
  'name',
  'email',
  'pendingEmail',
  'role',
  'metadata',
  'createdAt',
  'updatedAt',
] as const;
const operations = userOperations(USER_FIELDS);
type User = SelectedUser<(typeof USER_FIELDS)[number]>;

/** Document 004's user, in camelCase. */
export function camelCaseUserBody(user: User) {
  return {
    id: user.id,
    name: user.name,
    email: user.email,
    ...pendingEmailField('pendingEmail', user),
    role: documentedValue(Role, user.role),
    metadata: user.metadata,
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}

async function findUser({ graphql, params }: ShimCall): Promise<User> {
  const data = await graphql<{ user: User | null }>(operations.user, { id: params.id });
  if (!data.user) throw new RestFailure(ErrorCode.NOT_FOUND, 'User not found');
  return data.user;
}

function sameValue(field: (typeof READ_ONLY)[number], sent: unknown, current: string | null): boolean {
  if (field === 'id' || field === 'pendingEmail') return sent === current;
  return typeof sent === 'string' && current !== null && Date.parse(sent) === Date.parse(current);
}

/** The read-only fields the body tries to change; reads the user only when the body names one. */
async function readOnlyProblems(call: ShimCall, body: JsonObject): Promise<FieldError[]> {
  const sent = READ_ONLY.filter((field) => Object.hasOwn(body, field));
  if (sent.length === 0 || call.appliedBefore) return [];
  const current = await findUser(call);
  return sent
    .filter((field) => !sameValue(field, body[field], current[field]))
    .map((field) => ({
      field,
      message:
        field === 'pendingEmail'
          ? 'pendingEmail is read-only: send email to change the address (the new one waits for confirmation)'
          : `${field} is immutable and cannot be changed`,
    }));
}

/** 004: `PATCH /api/v1/users/{id}`: `updateUser { name, email, role, metadata }`, Bearer with users:write. */
export const patchUserApiV1: EndpointDefinition = {
  id: '004',
  paths: ['/api/v1/users/:id'],
  credential: {
    accepts: (c) => c.source === 'authorization',
    requirement: 'a token with the users:write scope as Authorization: Bearer',
    challenge: 'Bearer realm="users-api", scope="users:write"',
  },
  fields: FIELDS,
  async read(call) {
    return { body: camelCaseUserBody(await findUser(call)) };
  },
  write: {
    method: 'patch',
    mediaTypes: ['application/json', 'application/merge-patch+json'],
    async handle(call, body) {
      const { input, problems } = translateBody(body, FIELDS, READ_ONLY);
      refuseProblems([...problems, ...(await readOnlyProblems(call, body))]);
      const data = await call.graphql<{ updateUser: User }>(operations.updateUser, {
        id: call.params.id,
        input,
      });
      return { body: camelCaseUserBody(data.updateUser) };
    },
  },
  openapi: {
    tag: { name: '004', description: 'Document 004: update a user by public id with a users:write token' },
    read: { operationId: 'getUserApiV1', summary: 'Read a user (document 004)' },
    write: {
      operationId: 'updateUserApiV1',
      summary: 'Update User (document 004): needs the users:write scope; id and createdAt are immutable',
    },
    security: {
      bearerUsersWrite: {
        type: 'http',
        scheme: 'bearer',
        description:
          'Any token of ours with the users:write scope, or its short form write (reads need users:read)',
      },
    },
    pathParameters: {
      id: { description: 'The unique identifier of the user (e.g. usr_abc123)', schema: { type: 'string' } },
    },
    schemas: { request: 'UpdateUser004Request', response: 'User004', error: 'Error004' },
    components: {
      UpdateUser004Request: {
        type: 'object',
        additionalProperties: false,
        description:
          'All fields are optional. id, createdAt and updatedAt are accepted only with their current value.',
        properties: {
          name: { type: 'string' },
          email: { type: 'string' },
          role: { type: 'string', enum: Object.values(Role) },
          metadata: {
            type: 'object',
            maxProperties: 16,
            description: 'Merged per key (JSON Merge Patch); a key set to null is removed',
            additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
          },
          id: { type: 'string', description: 'Immutable' },
          createdAt: { ...dateTime, description: 'Immutable' },
          updatedAt: { ...dateTime, description: 'Read-only' },
        },
      },
      User004: {
        type: 'object',
        required: ['id', 'name', 'email', 'role', 'metadata', 'createdAt', 'updatedAt'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          email: { type: 'string' },
          pendingEmail,
          role: { type: 'string', enum: Object.values(Role) },
          metadata: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
          createdAt: dateTime,
          updatedAt: dateTime,
        },
      },
      Error004: {
        type: 'object',
        required: ['errors'],
        properties: {
          errors: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              required: ['message'],
              properties: { field: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  },
};

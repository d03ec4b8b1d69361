import { CredentialKind, ProjectsSortOrder } from '../entities/enums';
import { ErrorCode } from '../errors/error-code';
import type { EndpointDefinition, ShimCall } from './endpoint-definition';
import {
  documentedValue,
  enumOf,
  refuseProblems,
  strings,
  text,
  translateBody,
  type FieldSpec,
} from './field-map';
import { userOperations, type SelectedUser } from './graphql-call';
import { nullableString, pendingEmail, pendingEmailField, ref } from './openapi';
import { RestFailure } from './rest-failure';

const FIELDS: readonly FieldSpec[] = [
  { rest: 'name', graphql: 'name', type: text },
  { rest: 'jobTitle', graphql: 'jobTitle', type: text },
  { rest: 'companyName', graphql: 'companyName', type: text },
  { rest: 'experiments', graphql: 'experiments', type: strings },
  { rest: 'projectsSortOrder', graphql: 'projectsSortOrder', type: enumOf(ProjectsSortOrder) },
  { rest: 'timezone', graphql: 'timezone', type: text },
];

const MAX_INT = 2 ** 31 - 1;

const USER_FIELDS = [
  'id',
  'numericId',
  'name',
  'email',
  'pendingEmail',
  'jobTitle',
  'companyName',
  'experiments',
  'projectsSortOrder',
  'timezone',
] as const;
const operations = userOperations(USER_FIELDS);
type User = SelectedUser<(typeof USER_FIELDS)[number]>;
/** The write answers `{ "success": true }`: it selects no more than the id (and the version, for the ETag). */
const writeOperations = userOperations(['id']);

/** The 003 fields of a user in their documented spelling (GET's `user`). */
export function profileBody(user: User) {
  return {
    id: user.numericId,
    name: user.name,
    email: user.email,
    ...pendingEmailField('pendingEmail', user),
    jobTitle: user.jobTitle,
    companyName: user.companyName,
    experiments: user.experiments,
    projectsSortOrder: user.projectsSortOrder && documentedValue(ProjectsSortOrder, user.projectsSortOrder),
    timezone: user.timezone,
  };
}

/** Document 003's integer `userId`, checked. */
function numericIdOf({ params }: ShimCall): number {
  const raw = params.userId;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) > MAX_INT) {
    throw RestFailure.badInput([{ field: 'userId', message: 'userId must be a positive integer' }]);
  }
  return Number(raw);
}

/** Resolves document 003's integer `userId` to the user, through GraphQL's `userByNumericId`. */
async function findUser(call: ShimCall): Promise<User> {
  const data = await call.graphql<{ userByNumericId: User | null }>(operations.userByNumericId, {
    numericId: numericIdOf(call),
  });
  if (!data.userByNumericId) throw new RestFailure(ErrorCode.NOT_FOUND, 'User not found');
  return data.userByNumericId;
}

/**
 * 003: `POST /v1/api/users/{userId}` (Edge Impulse's /v1 server URL) and `POST /api/users/{userId}`:
 * `updateUser` by integer id, JWT only (the `jwt` cookie or `x-jwt-token`), answering GenericApiResponse.
 */
export const postUserByNumericId: EndpointDefinition = {
  id: '003',
  paths: ['/v1/api/users/:userId', '/api/users/:userId'],
  credential: {
    accepts: (c) => c.kind === CredentialKind.JWT && (c.source === 'cookie' || c.source === 'x-jwt-token'),
    requirement: 'a JWT, in the jwt cookie or the x-jwt-token header',
    challenge: 'JWT realm="users-api", cookie="jwt", header="x-jwt-token"',
  },
  fields: FIELDS,
  async read(call) {
    return { body: { success: true, user: profileBody(await findUser(call)) } };
  },
  write: {
    method: 'post',
    async handle(call, body) {
      const { input, problems } = translateBody(body, FIELDS);
      refuseProblems(problems);
      // The caller's own integer id is known from authentication (ids never change): no lookup for it.
      const numericId = numericIdOf(call);
      const id = call.caller?.numericId === numericId ? call.caller.id : (await findUser(call)).id;
      await call.graphql(writeOperations.updateUser, { id, input });
      return { body: { success: true } };
    },
  },
  openapi: {
    tag: {
      name: '003',
      description:
        'Document 003: update a user by integer id with a JWT (Edge Impulse, server https://studio.edgeimpulse.com/v1)',
    },
    read: {
      operationId: 'getUser',
      summary: 'Read the 003 fields of a user, wrapped in GenericApiResponse (document 003)',
    },
    write: {
      operationId: 'updateUser',
      summary: 'Update user (document 003): only available through a JWT token',
    },
    security: {
      JWTAuthentication: {
        type: 'apiKey',
        in: 'cookie',
        name: 'jwt',
        description: 'A JWT in the jwt cookie',
      },
      JWTHttpHeaderAuthentication: {
        type: 'apiKey',
        in: 'header',
        name: 'x-jwt-token',
        description: 'A JWT in the x-jwt-token header',
      },
    },
    pathParameters: {
      userId: { description: 'User ID', schema: { type: 'integer', minimum: 0, maximum: MAX_INT } },
    },
    schemas: {
      request: 'UpdateUserRequest',
      response: 'GenericApiResponse',
      readResponse: 'GetUserResponse',
      error: 'GenericApiResponse',
    },
    components: {
      UpdateUserRequest: {
        type: 'object',
        additionalProperties: false,
        description: 'Only fields set in this object will be updated.',
        properties: {
          name: { type: 'string', description: 'New full name' },
          jobTitle: { ...nullableString, description: 'New job title' },
          companyName: { ...nullableString, description: 'New company name' },
          experiments: { type: 'array', items: { type: 'string' }, description: 'List of user experiments' },
          projectsSortOrder: {
            anyOf: [ref('UserProjectsSortOrder'), { type: 'null' }],
            description: 'Default sort order on the projects list',
          },
          timezone: { ...nullableString, description: 'User timezone.' },
        },
      },
      GenericApiResponse: {
        type: 'object',
        required: ['success'],
        properties: {
          success: { type: 'boolean', description: 'Whether the operation succeeded' },
          error: { type: 'string', description: "Optional error description (set if 'success' was false)" },
        },
      },
      GetUserResponse: {
        allOf: [
          ref('GenericApiResponse'),
          {
            type: 'object',
            required: ['user'],
            properties: {
              user: {
                type: 'object',
                required: [
                  'id',
                  'name',
                  'email',
                  'jobTitle',
                  'companyName',
                  'experiments',
                  'projectsSortOrder',
                  'timezone',
                ],
                properties: {
                  id: { type: 'integer' },
                  name: { type: 'string' },
                  email: { type: 'string' },
                  pendingEmail,
                  jobTitle: nullableString,
                  companyName: nullableString,
                  experiments: { type: 'array', items: { type: 'string' } },
                  projectsSortOrder: { anyOf: [ref('UserProjectsSortOrder'), { type: 'null' }] },
                  timezone: nullableString,
                },
              },
            },
          },
        ],
      },
      UserProjectsSortOrder: { type: 'string', enum: Object.values(ProjectsSortOrder) },
    },
  },
};

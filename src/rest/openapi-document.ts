import { ProjectsSortOrder, Role } from '../entities/enums';

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullableString = { type: ['string', 'null'] };
const dateTime = { type: 'string', format: 'date-time' };
const roles = Object.values(Role);

function responses(ok: object, errorSchema: string, statuses: number[]): Record<string, object> {
  const descriptions: Record<number, string> = {
    400: 'Bad request: malformed JSON, not an object, unknown fields, wrong types or invalid values',
    401: 'Missing or invalid credential (with WWW-Authenticate)',
    403: 'Wrong credential kind, missing scope, or not allowed to change this user',
    404: 'User not found',
    405: 'Method not allowed (with Allow)',
    409: 'Conflict: the email or username is already taken in the organization',
    413: 'Request body too large',
    415: 'Content-Type is not application/json',
  };
  const result: Record<string, object> = { '200': { description: 'OK', content: json(ok) } };
  for (const status of statuses) {
    result[String(status)] = { description: descriptions[status], content: json(ref(errorSchema)) };
  }
  return result;
}

const WRITE_ERRORS = [400, 401, 403, 404, 405, 409, 413, 415];
const READ_ERRORS = [401, 403, 404];

function pathParameter(name: string, schema: object, description: string) {
  return { name, in: 'path', required: true, description, schema };
}

const op000 = {
  get: {
    tags: ['000'],
    operationId: 'getCurrentUser',
    summary: 'Read the current user (document 000)',
    security: [{ patAuth: [] }],
    responses: responses(ref('User'), 'Error000', READ_ERRORS),
  },
  put: {
    tags: ['000'],
    operationId: 'updateCurrentUser',
    summary: 'Update current user (document 000): only a personal access token is accepted',
    security: [{ patAuth: [] }],
    requestBody: { required: true, content: json(ref('UpdateCurrentUserRequest')) },
    responses: responses(ref('User'), 'Error000', WRITE_ERRORS),
  },
};

const op001 = {
  get: {
    tags: ['001'],
    operationId: 'getCurrentUserInformation',
    summary: 'Read current user information (document 001)',
    security: [{ ApiKeyAuth: [] }],
    responses: responses(ref('UserResponse'), 'ErrorResponse', READ_ERRORS),
  },
  patch: {
    tags: ['001'],
    operationId: 'updateCurrentUserInformation',
    summary: 'Update current user information (document 001)',
    security: [{ ApiKeyAuth: [] }],
    requestBody: { required: true, content: json(ref('UserUpdate')) },
    responses: responses(ref('UserResponse'), 'ErrorResponse', WRITE_ERRORS),
  },
};

const userIdParameter002 = pathParameter('user_id', { type: 'string' }, 'The public id of the user (usr_…)');
const op002 = {
  parameters: [userIdParameter002],
  get: {
    tags: ['002'],
    operationId: 'getUserV1',
    summary: 'Read a user (document 002)',
    security: [{ bearerKeyOrOAuth: [] }],
    responses: responses(ref('User002'), 'Error002', READ_ERRORS),
  },
  patch: {
    tags: ['002'],
    operationId: 'updateUserV1',
    summary: 'Update User (document 002): an API key or OAuth token with the write scope',
    security: [{ bearerKeyOrOAuth: [] }],
    requestBody: { required: true, content: json(ref('UpdateUser002Request')) },
    responses: responses(ref('User002'), 'Error002', WRITE_ERRORS),
  },
};

const userIdParameter003 = pathParameter('userId', { type: 'integer' }, 'User ID');
const op003 = {
  parameters: [userIdParameter003],
  get: {
    tags: ['003'],
    operationId: 'getUser',
    summary: 'Read the 003 fields of a user, wrapped in GenericApiResponse (document 003)',
    security: [{ JWTAuthentication: [] }, { JWTHttpHeaderAuthentication: [] }],
    responses: responses(ref('GetUserResponse'), 'GenericApiResponse', [400, ...READ_ERRORS]),
  },
  post: {
    tags: ['003'],
    operationId: 'updateUser',
    summary: 'Update user (document 003): only available through a JWT token',
    security: [{ JWTAuthentication: [] }, { JWTHttpHeaderAuthentication: [] }],
    requestBody: { required: true, content: json(ref('UpdateUserRequest')) },
    responses: responses(ref('GenericApiResponse'), 'GenericApiResponse', WRITE_ERRORS),
  },
};

const op004 = {
  parameters: [
    pathParameter('id', { type: 'string' }, 'The unique identifier of the user (e.g. usr_abc123)'),
  ],
  get: {
    tags: ['004'],
    operationId: 'getUserApiV1',
    summary: 'Read a user (document 004)',
    security: [{ bearerUsersWrite: [] }],
    responses: responses(ref('User004'), 'Error004', READ_ERRORS),
  },
  patch: {
    tags: ['004'],
    operationId: 'updateUserApiV1',
    summary: 'Update User (document 004): needs the users:write scope; id and createdAt are immutable',
    security: [{ bearerUsersWrite: [] }],
    requestBody: { required: true, content: json(ref('UpdateUser004Request')) },
    responses: responses(ref('User004'), 'Error004', WRITE_ERRORS),
  },
};

/** The OpenAPI 3.1 description of exactly the shim's routes, with the seed documents' schema names. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'users-api REST endpoints',
    version: '1.0.0',
    description:
      'The five documented update-user endpoints, each a mapping onto the GraphQL updateMe/updateUser mutations.',
  },
  servers: [{ url: '/' }],
  paths: {
    '/v2/user': op000,
    '/user': op000,
    '/v1/users/me': op001,
    '/v1/users/{user_id}': op002,
    '/v1/api/users/{userId}': op003,
    '/api/users/{userId}': op003,
    '/api/v1/users/{id}': op004,
  },
  components: {
    schemas: {
      UpdateCurrentUserRequest: {
        description: 'Object representing a user update request',
        type: 'object',
        required: ['name'],
        additionalProperties: false,
        properties: { name: { description: 'New name for the user', type: 'string', example: 'John Smith' } },
      },
      User: {
        description: 'Represents a user in the system (document 000)',
        type: 'object',
        required: ['id', 'name', 'email', 'role'],
        properties: {
          email: { description: "User's email address", type: 'string' },
          id: { description: 'Unique identifier for the user', type: 'string', example: 'usr_123456789' },
          name: { description: "User's full name", type: 'string' },
          role: ref('UserDetailsRole'),
        },
      },
      UserDetailsRole: {
        description: "Detailed information about a user's role",
        type: 'object',
        required: ['id', 'name'],
        properties: {
          id: { type: 'string', enum: roles.map((r) => `role_${r}`) },
          name: { description: 'Human-readable name of the role', type: 'string', example: 'Admin' },
        },
      },
      Error000: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'integer' }, message: { type: 'string' } },
      },
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
          status: { type: 'string', enum: ['ACTIVE', 'INACTIVE'] },
          name: { type: 'string' },
          email: { type: 'string', format: 'email' },
          credits_balance: { type: 'integer', description: "The user's current credit balance" },
        },
      },
      ErrorResponse: {
        type: 'object',
        required: ['status', 'message'],
        properties: { status: { type: 'integer' }, message: { type: 'string' } },
      },
      UpdateUser002Request: {
        type: 'object',
        additionalProperties: false,
        description: 'All fields are optional; null clears username, first_name or last_name',
        properties: {
          email: { type: 'string' },
          username: nullableString,
          first_name: nullableString,
          last_name: nullableString,
          role: { type: 'string', enum: roles },
        },
      },
      User002: {
        type: 'object',
        required: ['id', 'email', 'username', 'first_name', 'last_name', 'role', 'created_at', 'updated_at'],
        properties: {
          id: { type: 'string' },
          email: { type: 'string' },
          username: nullableString,
          first_name: nullableString,
          last_name: nullableString,
          role: { type: 'string', enum: roles },
          created_at: dateTime,
          updated_at: dateTime,
        },
      },
      Error002: {
        type: 'object',
        required: ['error', 'message'],
        properties: {
          error: {
            type: 'string',
            enum: [
              'validation_error',
              'unauthorized',
              'forbidden',
              'not_found',
              'conflict',
              'method_not_allowed',
              'payload_too_large',
              'unsupported_media_type',
              'internal_error',
            ],
          },
          message: { type: 'string' },
          details: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
        },
      },
      UpdateUserRequest: {
        type: 'object',
        additionalProperties: false,
        description: 'Only fields set in this object will be updated.',
        properties: {
          name: { type: 'string', description: 'New full name' },
          jobTitle: { type: ['string', 'null'], description: 'New job title' },
          companyName: { type: ['string', 'null'], description: 'New company name' },
          experiments: { type: 'array', items: { type: 'string' }, description: 'List of user experiments' },
          projectsSortOrder: {
            anyOf: [ref('UserProjectsSortOrder'), { type: 'null' }],
            description: 'Default sort order on the projects list',
          },
          timezone: { type: ['string', 'null'], description: 'User timezone.' },
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
      UpdateUser004Request: {
        type: 'object',
        additionalProperties: false,
        description:
          'All fields are optional. id, createdAt and updatedAt are accepted only with their current value.',
        properties: {
          name: { type: 'string' },
          email: { type: 'string' },
          role: { type: 'string', enum: roles },
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
          role: { type: 'string', enum: roles },
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
    securitySchemes: {
      patAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'A personal access token (pat_…); API keys and other tokens are refused with 403',
      },
      ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key (key_…)' },
      bearerKeyOrOAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'An API key (key_…) or OAuth token (oat_…) with the write (or users:write) scope',
      },
      JWTAuthentication: { type: 'apiKey', in: 'cookie', name: 'jwt' },
      JWTHttpHeaderAuthentication: { type: 'apiKey', in: 'header', name: 'x-jwt-token' },
      bearerUsersWrite: {
        type: 'http',
        scheme: 'bearer',
        description: 'Any token of ours with the users:write scope (reads need users:read)',
      },
    },
  },
} as const;

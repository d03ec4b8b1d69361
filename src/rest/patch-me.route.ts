import { CredentialKind } from '../entities/enums';
import type { EndpointDefinition } from './endpoint';
import { refuseProblems, text, translateBody, type FieldSpec } from './field-map';
import { userOperations, type SelectedUser } from './graphql-call';

const FIELDS: readonly FieldSpec[] = [{ rest: 'name', graphql: 'name', type: text }];

const USER_FIELDS = ['uuid', 'createdAt', 'updatedAt', 'status', 'name', 'email', 'creditsBalance'] as const;
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
};

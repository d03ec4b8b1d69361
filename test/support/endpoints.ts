import { CredentialKind, Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import type { Fixtures } from './fixtures';
import { apiKeyHeader, bearer, jwtHeader } from './http';

export type EndpointId = '000' | '001' | '002' | '003' | '004';

/** The credentials a test hands out, by the name the endpoints below ask for them. */
export const CREDENTIAL_KINDS = {
  pat: CredentialKind.PERSONAL_ACCESS_TOKEN,
  apiKey: CredentialKind.API_KEY,
  jwt: CredentialKind.JWT,
} as const;

export type CredentialName = keyof typeof CREDENTIAL_KINDS;

/** One credential of each kind for `user`, issued through the operator's service. */
export async function credentialsFor(fixtures: Fixtures, user: User) {
  return {
    pat: (await fixtures.token(user.id, CREDENTIAL_KINDS.pat)).token,
    apiKey: (await fixtures.token(user.id, CREDENTIAL_KINDS.apiKey)).token,
    jwt: (await fixtures.token(user.id, CREDENTIAL_KINDS.jwt)).token,
  };
}

export type Credentials = Awaited<ReturnType<typeof credentialsFor>>;

/** One of the five documented REST write endpoints. */
export interface DocumentedEndpoint {
  id: EndpointId;
  /** The id, method and documented path (`'002 PATCH /v1/users/{user_id}'`), for messages. */
  name: string;
  method: 'PUT' | 'PATCH' | 'POST';
  /** The path that writes `user`; the current-user endpoints (000, 001) write the caller, whoever `user` is. */
  path(user: Pick<User, 'id' | 'numericId'>): string;
  /** Whether it writes the caller (000, 001), so that a test must use the written user's own credential. */
  self: boolean;
  /** The credential it takes, and the header it takes it in. */
  credential: CredentialName;
  header(token: string): Record<string, string>;
  /** A free-text field of its body in the endpoint's spelling, and the stored column that field sets. */
  textField: 'name' | 'first_name' | 'jobTitle';
  column: 'name' | 'firstName' | 'jobTitle';
}

type Row = [
  EndpointId,
  DocumentedEndpoint['method'],
  string,
  CredentialName,
  (token: string) => Record<string, string>,
  DocumentedEndpoint['textField'],
];

/** The endpoints in the documents' order: id, method, documented path, credential, its header, text field. */
export const DOCUMENTED_ENDPOINTS: readonly DocumentedEndpoint[] = (
  [
    ['000', 'PUT', '/v2/user', 'pat', bearer, 'name'],
    ['001', 'PATCH', '/v1/users/me', 'apiKey', apiKeyHeader, 'name'],
    ['002', 'PATCH', '/v1/users/{user_id}', 'apiKey', bearer, 'first_name'],
    ['003', 'POST', '/v1/api/users/{userId}', 'jwt', jwtHeader, 'jobTitle'],
    ['004', 'PATCH', '/api/v1/users/{id}', 'pat', bearer, 'name'],
  ] satisfies Row[]
).map(([id, method, documented, credential, header, textField]) => ({
  id,
  name: `${id} ${method} ${documented}`,
  method,
  // 003 addresses the user by the numeric id, the others by the string id.
  path: (user) => documented.replace('{userId}', String(user.numericId)).replace(/\{(user_id|id)\}/, user.id),
  self: !documented.includes('{'),
  credential,
  header,
  textField,
  column: textField === 'first_name' ? 'firstName' : textField,
}));

/** The error body endpoint `id` answers `status` with; 002 also names the error (`code`, e.g. `'conflict'`). */
export function errorBody(id: EndpointId, status: number, code: string): unknown {
  switch (id) {
    case '000':
      return { code: status, message: expect.any(String) };
    case '001':
      return { status, message: expect.any(String) };
    case '002':
      return { error: code, message: expect.any(String) };
    case '003':
      return { success: false, error: expect.any(String) };
    case '004':
      return { errors: [{ message: expect.any(String) }] };
  }
}

/** An endpoint with a user of its own to write, and the credential that may write that user. */
export interface VersionedEndpoint extends DocumentedEndpoint {
  user: User;
  headers: Record<string, string>;
  /** A body that really changes the user (distinct for each `n`). */
  body(n: number): Record<string, unknown>;
}

/**
 * A new organization with an admin, and the five endpoints each with a member of their own to write
 * (so that versions and histories of one endpoint are not moved by another): 000 and 001 with the
 * member's own credential, the by-id endpoints with the admin's (`adminToken` is the admin's PAT, 004's).
 */
export async function versionedEndpoints(fixtures: Fixtures, orgName: string) {
  const orgId = await fixtures.org(orgName);
  const admin = await fixtures.user(orgId, { role: Role.ADMIN });
  const adminCredentials = await credentialsFor(fixtures, admin);
  const endpoints: VersionedEndpoint[] = [];
  for (const endpoint of DOCUMENTED_ENDPOINTS) {
    const user = await fixtures.user(orgId);
    const token = endpoint.self
      ? (await fixtures.token(user.id, CREDENTIAL_KINDS[endpoint.credential])).token
      : adminCredentials[endpoint.credential];
    const label = { name: 'Name', first_name: 'First', jobTitle: 'Job' }[endpoint.textField];
    endpoints.push({
      ...endpoint,
      user,
      headers: endpoint.header(token),
      // 004 also merges metadata, so its bodies carry some.
      body: (n) => ({
        [endpoint.textField]: `${label} ${n}`,
        ...(endpoint.id === '004' ? { metadata: { n } } : {}),
      }),
    });
  }
  return { orgId, admin, adminToken: adminCredentials.pat, endpoints };
}

import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import type { Fixtures } from '../support/harness';
import { apiKeyHeader, bearer, jwtHeader, type RestResponse } from '../rest/rest-support';

export type EndpointId = '000' | '001' | '002' | '003' | '004';

/** One documented REST endpoint as a given caller reaches it: where to write, with which credential. */
export interface RestTarget {
  id: EndpointId;
  method: 'PUT' | 'PATCH' | 'POST';
  path: string;
  /** The credential in the place this endpoint takes it. */
  headers: Record<string, string>;
  /** A harmless valid body, so a refusal is about the one thing a test changes. */
  valid: Record<string, unknown>;
  /** A free-text body field of this endpoint, in its documented spelling. */
  textField: string;
}

/** One credential of each kind for `user`, issued through the operator's service. */
export async function credentialsFor(fixtures: Fixtures, user: User) {
  return {
    pat: (await fixtures.token(user.id, CredentialKind.PERSONAL_ACCESS_TOKEN)).token,
    apiKey: (await fixtures.token(user.id, CredentialKind.API_KEY)).token,
    jwt: (await fixtures.token(user.id, CredentialKind.JWT)).token,
  };
}

export type Credentials = Awaited<ReturnType<typeof credentialsFor>>;

/**
 * The five endpoints as `caller` reaches them; the by-id endpoints (002, 003, 004) address `target`
 * (the caller unless given), the current-user endpoints (000, 001) always address the caller.
 */
export function restTargets(credentials: Credentials, caller: User, target: User = caller): RestTarget[] {
  return [
    {
      id: '000',
      method: 'PUT',
      path: '/v2/user',
      headers: bearer(credentials.pat),
      valid: { name: caller.name },
      textField: 'name',
    },
    {
      id: '001',
      method: 'PATCH',
      path: '/v1/users/me',
      headers: apiKeyHeader(credentials.apiKey),
      valid: { name: caller.name },
      textField: 'name',
    },
    {
      id: '002',
      method: 'PATCH',
      path: `/v1/users/${target.id}`,
      headers: bearer(credentials.apiKey),
      valid: { first_name: 'Valid' },
      textField: 'first_name',
    },
    {
      id: '003',
      method: 'POST',
      path: `/v1/api/users/${target.numericId}`,
      headers: jwtHeader(credentials.jwt),
      valid: { jobTitle: 'Valid' },
      textField: 'jobTitle',
    },
    {
      id: '004',
      method: 'PATCH',
      path: `/api/v1/users/${target.id}`,
      headers: bearer(credentials.pat),
      valid: { name: target.name },
      textField: 'name',
    },
  ];
}

/** Asserts `res` is a `status` refusal in the error body document `id` prescribes. */
export function expectErrorShape(id: EndpointId | 'graphql', res: RestResponse, status: number): void {
  const body = res.body;
  expect({ endpoint: id, status: res.status }).toEqual({ endpoint: id, status });
  switch (id) {
    case '000':
      expect(body).toEqual({ code: status, message: expect.any(String) });
      break;
    case '001':
      expect(body).toEqual({ status, message: expect.any(String) });
      break;
    case '002':
      expect(body).toEqual({
        error: expect.any(String),
        message: expect.any(String),
        ...(body.details ? { details: expect.any(Object) } : {}),
      });
      break;
    case '003':
      expect(body).toEqual({ success: false, error: expect.any(String) });
      break;
    case '004':
      expect(body).toEqual({ errors: expect.any(Array) });
      expect(body.errors.length).toBeGreaterThan(0);
      for (const error of body.errors) expect(typeof error.message).toBe('string');
      break;
    case 'graphql':
      expect(body.errors?.length).toBeGreaterThan(0);
      expect(body.data ?? null).toBeNull();
      break;
  }
}

/** The text of any endpoint's error body. */
export function messageOf(body: any): string {
  if (typeof body === 'string') return body;
  return (
    body?.message ??
    body?.error ??
    body?.errors?.map((e: { message: string }) => e.message).join('; ') ??
    JSON.stringify(body)
  );
}

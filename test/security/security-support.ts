import { Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import type { RestResponse } from '../rest/rest-support';
import {
  type Credentials,
  credentialsFor,
  DOCUMENTED_ENDPOINTS,
  type EndpointId,
} from '../support/endpoints';
import type { Fixtures } from '../support/fixtures';

export { credentialsFor, type Credentials, type EndpointId } from '../support/endpoints';

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

/** A body that would visibly change the addressed user if the request were carried out. */
export function changingBody(target: RestTarget, text: string): Record<string, unknown> {
  return { [target.textField]: text };
}

/** An admin of a new organization, and one credential of each kind for them. */
export async function adminWithCredentials(fixtures: Fixtures) {
  const admin = await fixtures.user(await fixtures.org(), { role: Role.ADMIN });
  return { admin, credentials: await credentialsFor(fixtures, admin) };
}

/**
 * The five endpoints as `caller` reaches them; the by-id endpoints (002, 003, 004) address `target`
 * (the caller unless given), the current-user endpoints (000, 001) always address the caller.
 */
export function restTargets(credentials: Credentials, caller: User, target: User = caller): RestTarget[] {
  return DOCUMENTED_ENDPOINTS.map((endpoint) => {
    const addressed = endpoint.self ? caller : target;
    return {
      id: endpoint.id,
      method: endpoint.method,
      path: endpoint.path(addressed),
      headers: endpoint.header(credentials[endpoint.credential]),
      // The addressed user's own name changes nothing; the other text fields take a harmless value.
      valid: { [endpoint.textField]: endpoint.textField === 'name' ? addressed.name : 'Valid' },
      textField: endpoint.textField,
    };
  });
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

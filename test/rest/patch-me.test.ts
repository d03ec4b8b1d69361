import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import { apiKeyHeader, bearer, contractValidator, expectContractSchema, send } from './rest-support';

describe('001 PATCH /v1/users/me (update current user information with x-api-key)', () => {
  let apiKey: string;
  const seed = contractValidator('001');

  const app = useApp({ world: true });

  beforeAll(async () => {
    apiKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
  });

  const patch = (json: unknown, headers: Record<string, string> = apiKeyHeader(apiKey)) =>
    send(app.url, 'PATCH', '/v1/users/me', { json, headers });

  it('renames the caller and answers UserResponse with the uuid as id', async () => {
    const res = await patch({ name: 'Jane Luminous' });
    expect(res.status).toBe(200);
    expectContractSchema(seed, 'UserResponse', res.body);
    const stored = await app.stored(app.world.member.id);
    expect(res.body).toEqual({
      id: stored.uuid,
      created_at: stored.createdAt,
      updated_at: stored.updatedAt,
      status: 'ACTIVE',
      name: 'Jane Luminous',
      email: stored.email,
      credits_balance: 0,
    });
    expect(stored.name).toBe('Jane Luminous');
  });

  it('leaves the user alone for an empty patch', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await patch({});
    expect(res.status).toBe(200);
    expect(res.body.name).toBe(before.name);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('GET /v1/users/me returns the same UserResponse', async () => {
    const res = await send(app.url, 'GET', '/v1/users/me', { headers: apiKeyHeader(apiKey) });
    expect(res.status).toBe(200);
    expectContractSchema(seed, 'UserResponse', res.body);
    expect(res.body.id).toBe((await app.stored(app.world.member.id)).uuid);
  });

  it('answers 400 as ErrorResponse for an invalid name, null name, wrong type or unknown field', async () => {
    const before = await app.stored(app.world.member.id);
    for (const body of [{ name: '' }, { name: null }, { name: ['a'] }, { email: 'a@example.com' }]) {
      const res = await patch(body);
      expect(res.status).toBe(400);
      expectContractSchema(seed, 'ErrorResponse', res.body);
      expect(res.body).toEqual({ status: 400, message: expect.stringMatching(/name|email/) });
    }
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('answers 401 as ErrorResponse with WWW-Authenticate without a key or with an unknown key', async () => {
    for (const headers of [{}, apiKeyHeader('key_unknown'), apiKeyHeader('not-a-key')]) {
      const res = await patch({ name: 'Nope' }, headers);
      expect(res.status).toBe(401);
      expectContractSchema(seed, 'ErrorResponse', res.body);
      expect(res.body.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/x-api-key/);
    }
  });

  it('refuses an API key sent as Authorization: Bearer, and PATs, with 401 naming x-api-key', async () => {
    const before = await app.stored(app.world.member.id);
    for (const headers of [bearer(apiKey), bearer(app.world.memberToken)]) {
      const res = await patch({ name: 'Nope' }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/x-api-key/);
      expectContractSchema(seed, 'ErrorResponse', res.body);
      expect(res.body.message).toMatch(/x-api-key/);
    }
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('refuses an API key without a write scope with 403 and changes nothing', async () => {
    const before = await app.stored(app.world.member.id);
    const { token } = await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY, {
      scopes: ['users:read'],
    });
    const res = await patch({ name: 'Nope' }, apiKeyHeader(token));
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ status: 403, message: expect.stringMatching(/users:write/) });
    expect(await app.stored(app.world.member.id)).toEqual(before);
    expect((await send(app.url, 'GET', '/v1/users/me', { headers: apiKeyHeader(token) })).status).toBe(200);
  });

  it('answers 405 with Allow for PUT and DELETE, never falling through to /v1/users/{user_id}', async () => {
    for (const method of ['PUT', 'DELETE', 'POST']) {
      const res = await send(app.url, method, '/v1/users/me', {
        json: { name: 'x' },
        headers: apiKeyHeader(apiKey),
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD, PATCH, OPTIONS');
      expect(res.body.status).toBe(405);
    }
  });
});

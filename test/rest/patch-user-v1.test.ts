import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import {
  apiKeyHeader,
  bearer,
  documentedExamples,
  expectContractSchema,
  patchNewUser,
  send,
  userView,
} from './rest-support';

describe('002 PATCH /v1/users/{user_id} (API key or OAuth token with write scope)', () => {
  let adminKey: string;
  let adminOAuth: string;
  let memberKey: string;

  const app = useApp({ world: true });

  beforeAll(async () => {
    adminKey = (await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY, { scopes: ['write'] }))
      .token;
    adminOAuth = (
      await app.fixtures.token(app.world.admin.id, CredentialKind.OAUTH, { scopes: ['read', 'write'] })
    ).token;
    memberKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY, { scopes: ['write'] }))
      .token;
  });

  const patch = (id: string, json: unknown, token = adminKey) =>
    send(app.url, 'PATCH', `/v1/users/${id}`, { json, headers: bearer(token) });

  const snakeCase = userView(
    ['id', 'email', 'username', 'firstName', 'lastName', 'role', 'createdAt', 'updatedAt'],
    'snake_case',
  );

  it('updates every documented field and answers the user in snake_case', async () => {
    const changes = {
      email: 'every-field@example.com',
      username: 'newusername',
      first_name: 'Jane',
      last_name: 'Smith',
      role: 'admin',
    };
    const { res, stored } = await patchNewUser(app, patch, changes);
    expect(res.status).toBe(200);
    expectContractSchema('002', '200', res.body);
    expect(res.body).toEqual(snakeCase(stored));
    expect(snakeCase(stored)).toMatchObject(changes);
  });

  it('accepts an OAuth token with the write scope', async () => {
    const target = await app.fixtures.user(app.world.orgId);
    const res = await patch(target.id, { first_name: 'Otto' }, adminOAuth);
    expect(res.status).toBe(200);
    expect(res.body.first_name).toBe('Otto');
  });

  it('clears first_name, last_name and username sent as null (JSON Merge Patch)', async () => {
    const target = await app.fixtures.user(app.world.orgId, { username: 'clearme' });
    await patch(target.id, { first_name: 'A', last_name: 'B' });
    const res = await patch(target.id, { first_name: null, username: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ first_name: null, last_name: 'B', username: null });
  });

  it('GET /v1/users/{user_id} returns the same snake_case user', async () => {
    const res = await send(app.url, 'GET', `/v1/users/${app.world.member.id}`, { headers: bearer(adminKey) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(snakeCase(await app.stored(app.world.member.id)));
  });

  it('answers 400 validation_error with details keyed by the documented field names', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await patch(app.world.member.id, {
      email: 'not-an-email',
      first_name: 'x'.repeat(201),
      role: 'owner',
    });
    expect(res.status).toBe(400);
    expectContractSchema('002', '400', res.body);
    expect(res.body).toEqual({
      error: 'validation_error',
      message: 'Invalid request parameters',
      details: { role: ['role must be one of member, admin, viewer'] },
    });
    const res2 = await patch(app.world.member.id, { email: 'not-an-email', first_name: 'x'.repeat(201) });
    expect(res2.status).toBe(400);
    expectContractSchema('002', '400', res2.body);
    expect(res2.body).toEqual({
      error: 'validation_error',
      message: 'Invalid request parameters',
      details: {
        email: ['email must be a valid email address'],
        first_name: ['first_name must be at most 200 characters'],
      },
    });
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('names unknown fields and wrong types in details', async () => {
    const res = await patch(app.world.member.id, { firstName: 'camel', last_name: 7 });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual({
      firstName: ['firstName is not a field of this endpoint'],
      last_name: ['last_name must be a string'],
    });
  });

  it('answers 404 not_found for an unknown id and for a user of another organization', async () => {
    for (const id of ['usr_doesnotexist', app.world.outsider.id]) {
      const res = await patch(id, { first_name: 'X' });
      expect(res.status).toBe(404);
      expectContractSchema('002', '404', res.body);
      expect(res.body).toEqual({ error: 'not_found', message: 'User not found' });
    }
    expect((await app.stored(app.world.outsider.id)).firstName).toBeNull();
  });

  it('answers 409 conflict with "Username already taken" and "Email already taken"', async () => {
    const taken = await app.fixtures.user(app.world.orgId, { username: 'takenname' });
    const target = await app.fixtures.user(app.world.orgId);
    const before = await app.stored(target.id);
    const username = await patch(target.id, { username: 'TakenName' });
    expect(username.status).toBe(409);
    expectContractSchema('002', '409', username.body);
    expect(username.body).toEqual({ error: 'conflict', message: 'Username already taken' });
    const email = await patch(target.id, { email: taken.email.toUpperCase() });
    expect(email.status).toBe(409);
    expectContractSchema('002', '409', email.body);
    expect(email.body).toEqual({ error: 'conflict', message: 'Email already taken' });
    expect(await app.stored(target.id)).toEqual(before);
  });

  it('refuses a key without the write scope with 403 forbidden', async () => {
    const { token } = await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY, {
      scopes: ['read'],
    });
    const before = await app.stored(app.world.member.id);
    const res = await patch(app.world.member.id, { first_name: 'X' }, token);
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ error: 'forbidden', message: expect.stringMatching(/write/) });
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('refuses a member changing another user, or their own role, with 403', async () => {
    const before = await app.stored(app.world.viewer.id);
    expect((await patch(app.world.viewer.id, { first_name: 'X' }, memberKey)).status).toBe(403);
    expect(await app.stored(app.world.viewer.id)).toEqual(before);
    const self = await patch(app.world.member.id, { role: 'admin' }, memberKey);
    expect(self.status).toBe(403);
    expect((await app.stored(app.world.member.id)).role).toBe('member');
  });

  it.each([
    ['a personal access token', CredentialKind.PERSONAL_ACCESS_TOKEN],
    ['a JWT', CredentialKind.JWT],
  ])('refuses %s as Authorization: Bearer with 401, saying what it takes', async (_label, kind) => {
    const { token } = await app.fixtures.token(app.world.admin.id, kind);
    const res = await patch(app.world.member.id, { first_name: 'X' }, token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(/API key.*OAuth/) });
  });

  it('refuses an API key in x-api-key, and no credential, with 401 and WWW-Authenticate', async () => {
    const key = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      json: { first_name: 'X' },
      headers: apiKeyHeader(adminKey),
    });
    expect(key.status).toBe(401);
    expect(key.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const none = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      json: { first_name: 'X' },
    });
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('unauthorized');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('sends the documented curl and Python examples as written (host and key replaced)', async () => {
    const patchAsWritten = await documentedExamples(app, 'usr_123abc456def', adminKey);
    const url = `${app.url}/v1/users/usr_123abc456def`;
    // curl -X PATCH https://api.example.com/v1/users/usr_123abc456def -H "Authorization: Bearer YOUR_API_KEY" ...
    const curl = await patchAsWritten(
      url,
      `{
    "email": "newemail@example.com",
    "first_name": "Jane",
    "last_name": "Smith"
  }`,
    );
    expect(curl.status).toBe(200);
    expect(await curl.json()).toMatchObject({
      id: 'usr_123abc456def',
      email: 'newemail@example.com',
      first_name: 'Jane',
      last_name: 'Smith',
      role: 'member',
    });
    // requests.patch(url, headers=headers, json=data): the same request, as Python serialises it.
    const python = await patchAsWritten(
      url,
      '{"email": "newemail@example.com", "first_name": "Jane", "last_name": "Smith"}',
    );
    expect(python.status).toBe(200);
    expect(await app.stored('usr_123abc456def')).toMatchObject({
      email: 'newemail@example.com',
      firstName: 'Jane',
      lastName: 'Smith',
    });
  });
});

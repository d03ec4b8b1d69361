import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import {
  bearer,
  documentedExamples,
  expectContractSchema,
  patchNewUser,
  send,
  userView,
} from './rest-support';

describe('004 PATCH /api/v1/users/{id} (Bearer with users:write, camelCase)', () => {
  const app = useApp({ world: true });

  const patch = (id: string, json: unknown, token = app.world.adminToken) =>
    send(app.url, 'PATCH', `/api/v1/users/${id}`, { json, headers: bearer(token) });

  const camelCase = userView(['id', 'name', 'email', 'role', 'metadata', 'createdAt', 'updatedAt']);

  it('updates name, email, role and metadata and answers the user in camelCase', async () => {
    const changes = {
      name: 'Alice Smith',
      email: 'alice@example.com',
      role: 'viewer',
      metadata: { department: 'engineering', level: 3, remote: true },
    };
    const { res, stored } = await patchNewUser(app, patch, changes);
    expect(res.status).toBe(200);
    expectContractSchema('004', '200', res.body);
    expect(res.body).toEqual(camelCase(stored));
    expect(stored).toMatchObject(changes);
  });

  it('merges metadata per key and removes keys set to null (JSON Merge Patch)', async () => {
    const target = await app.fixtures.user(app.world.orgId);
    await patch(target.id, { metadata: { a: '1', b: '2' } });
    const res = await patch(target.id, { metadata: { a: null, c: 'three' } });
    expect(res.status).toBe(200);
    expect(res.body.metadata).toEqual({ b: '2', c: 'three' });
    expect((await app.stored(target.id)).metadata).toEqual({ b: '2', c: 'three' });
  });

  it('GET /api/v1/users/{id} returns the same camelCase user', async () => {
    const res = await send(app.url, 'GET', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(camelCase(await app.stored(app.world.member.id)));
  });

  it('refuses attempts to change id or createdAt with 400 errors naming them', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await patch(app.world.member.id, {
      id: 'usr_other',
      createdAt: '2000-01-01T00:00:00Z',
      name: 'X',
    });
    expect(res.status).toBe(400);
    expectContractSchema('004', '400', res.body);
    expect(res.body).toEqual({
      errors: [
        { field: 'id', message: 'id is immutable and cannot be changed' },
        { field: 'createdAt', message: 'createdAt is immutable and cannot be changed' },
      ],
    });
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('accepts id, createdAt and updatedAt repeated with their current values (a GET written back)', async () => {
    const current = await send(app.url, 'GET', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
    });
    const res = await patch(app.world.member.id, { ...current.body, name: 'Written Back' });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('Written Back');
    // With an email change pending, the body read holds pendingEmail: written back, it is accepted too.
    const mover = await app.fixtures.user(app.world.orgId);
    const moverToken = (await app.fixtures.token(mover.id)).token;
    const pending = await send(app.url, 'PATCH', `/api/v1/users/${mover.id}`, {
      headers: bearer(moverToken),
      json: { email: 'mover.new@example.com' },
    });
    expect(pending.body.pendingEmail).toBe('mover.new@example.com');
    const read = await send(app.url, 'GET', `/api/v1/users/${mover.id}`, {
      headers: bearer(app.world.adminToken),
    });
    const back = await patch(mover.id, { ...read.body, name: 'Moving Soon' });
    expect([back.status, back.body.name, back.body.pendingEmail]).toEqual([
      200,
      'Moving Soon',
      'mover.new@example.com',
    ]);
    const changed = await patch(mover.id, { name: 'Moving Soon', pendingEmail: 'elsewhere@example.com' });
    expect([changed.status, changed.body.errors]).toEqual([
      400,
      [{ field: 'pendingEmail', message: expect.stringMatching(/read-only: send email/) }],
    ]);
  });

  it('answers 400 naming every field it cannot translate (then, once those are right, every invalid value) and changes nothing', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await patch(app.world.member.id, { name: '', email: 'bad', role: 'owner', nickname: 'x' });
    expect(res.status).toBe(400);
    expectContractSchema('004', '400', res.body);
    expect(res.body.errors).toEqual([
      { field: 'role', message: 'role must be one of member, admin, viewer' },
      { field: 'nickname', message: 'nickname is not a field of this endpoint' },
    ]);
    const graphqlChecked = await patch(app.world.member.id, { name: '', email: 'bad' });
    expect(graphqlChecked.body.errors).toEqual([
      { field: 'name', message: 'name must be 1 to 200 characters' },
      { field: 'email', message: 'email must be a valid email address' },
    ]);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('refuses metadata over 16 keys with 400 errors on metadata', async () => {
    const before = await app.stored(app.world.member.id);
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    const res = await patch(app.world.member.id, { metadata });
    expect(res.status).toBe(400);
    expectContractSchema('004', '400', res.body);
    expect(res.body.errors).toEqual([{ field: 'metadata', message: expect.stringMatching(/16 keys/) }]);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('answers 401 with WWW-Authenticate without a token', async () => {
    const res = await send(app.url, 'PATCH', `/api/v1/users/${app.world.member.id}`, { json: { name: 'X' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(res.body).toEqual({ errors: [{ message: expect.any(String) }] });
  });

  it('refuses a token without users:write with 403 and changes nothing', async () => {
    const before = await app.stored(app.world.member.id);
    for (const kind of [CredentialKind.API_KEY, CredentialKind.OAUTH, CredentialKind.PERSONAL_ACCESS_TOKEN]) {
      const { token } = await app.fixtures.token(app.world.admin.id, kind, { scopes: ['users:read'] });
      const res = await patch(app.world.member.id, { name: 'X' }, token);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ errors: [{ message: expect.stringMatching(/users:write/) }] });
    }
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('accepts any bearer kind with users:write', async () => {
    for (const kind of [CredentialKind.API_KEY, CredentialKind.OAUTH, CredentialKind.JWT]) {
      const { token } = await app.fixtures.token(app.world.admin.id, kind, { scopes: ['users:write'] });
      const res = await patch(app.world.member.id, { name: `By ${kind}` }, token);
      expect(res.status).toBe(200);
    }
  });

  it('answers 404 for an unknown id or a user of another organization', async () => {
    for (const id of ['usr_nobody', app.world.outsider.id]) {
      const res = await patch(id, { name: 'X' });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ errors: [{ message: 'User not found' }] });
    }
  });

  it('answers 409 when the email is used by another user of the organization', async () => {
    const before = await app.stored(app.world.member.id);
    const res = await patch(app.world.member.id, { email: app.world.viewer.email });
    expect(res.status).toBe(409);
    expectContractSchema('004', '409', res.body);
    expect(res.body).toEqual({ errors: [{ field: 'email', message: 'Email already taken' }] });
    expect(await app.stored(app.world.member.id)).toEqual(before);
    const otherOrg = await patch(app.world.member.id, { email: app.world.outsider.email });
    expect(otherOrg.status).toBe(200);
  });

  it('sends the documented curl, JavaScript and Python examples as written (base URL and token replaced)', async () => {
    const patchAsWritten = await documentedExamples(app, 'usr_abc123', app.world.adminToken);
    // The document's app.server https://api.example.com serves its /api/v1 paths; its JS example calls /api/v1/… directly.
    const base = `${app.url}/api`;
    const curl = await patchAsWritten(
      `${base}/v1/users/usr_abc123`,
      '{"name": "Alice Smith", "role": "admin"}',
    );
    expect(curl.status).toBe(200);
    expect(await curl.json()).toMatchObject({ id: 'usr_abc123', name: 'Alice Smith', role: 'admin' });

    const updated = await patchAsWritten(
      `${app.url}/api/v1/users/usr_abc123`,
      JSON.stringify({ name: 'Alice Smith', role: 'admin' }),
    ).then((r) => r.json() as Promise<{ updatedAt?: unknown }>);
    expect(typeof updated.updatedAt).toBe('string');

    // requests.patch(url, headers={'Authorization': ...}, json=...) adds Content-Type: application/json itself.
    const python = await patchAsWritten(
      `${base}/v1/users/usr_abc123`,
      '{"name": "Alice Smith", "role": "admin"}',
    );
    expect(((await python.json()) as { updatedAt?: unknown }).updatedAt).toEqual(expect.any(String));
    expect(await app.stored('usr_abc123')).toMatchObject({ name: 'Alice Smith', role: 'admin' });
  });
});

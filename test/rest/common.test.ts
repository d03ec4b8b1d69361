import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import { apiKeyHeader, bearer, jwtCookie, send } from './rest-support';

describe('REST shim: rules common to every endpoint', () => {
  let writes: Array<{
    id: string;
    method: string;
    path: string;
    headers: Record<string, string>;
    valid: object;
  }>;

  const app = useApp({ world: true, env: { BODY_LIMIT_BYTES: '2048' } });

  beforeAll(async () => {
    const apiKey = (await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY)).token;
    const jwt = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).token;
    writes = [
      {
        id: '000',
        method: 'PUT',
        path: '/v2/user',
        headers: bearer(app.world.adminToken),
        valid: { name: 'A' },
      },
      {
        id: '001',
        method: 'PATCH',
        path: '/v1/users/me',
        headers: apiKeyHeader(apiKey),
        valid: { name: 'A' },
      },
      {
        id: '002',
        method: 'PATCH',
        path: `/v1/users/${app.world.member.id}`,
        headers: bearer(apiKey),
        valid: { first_name: 'A' },
      },
      {
        id: '003',
        method: 'POST',
        path: `/v1/api/users/${app.world.member.numericId}`,
        headers: jwtCookie(jwt),
        valid: { jobTitle: 'A' },
      },
      {
        id: '004',
        method: 'PATCH',
        path: `/api/v1/users/${app.world.member.id}`,
        headers: bearer(app.world.adminToken),
        valid: { name: 'A' },
      },
    ];
  });

  /** The error text of any endpoint's error body. */
  const messageOf = (body: any): string =>
    body.message ?? body.error ?? body.errors?.map((e: any) => e.message).join('; ') ?? '';

  const unchanged = async (run: () => Promise<void>) => {
    const admin = await app.stored(app.world.admin.id);
    const member = await app.stored(app.world.member.id);
    await run();
    expect(await app.stored(app.world.admin.id)).toEqual(admin);
    expect(await app.stored(app.world.member.id)).toEqual(member);
  };

  it('answers 415 when Content-Type is not application/json, on every endpoint', async () => {
    await unchanged(async () => {
      for (const w of writes) {
        const res = await send(app.url, w.method, w.path, {
          headers: { ...w.headers, 'content-type': 'text/plain' },
          raw: JSON.stringify(w.valid),
        });
        expect([w.id, res.status]).toEqual([w.id, 415]);
        expect(messageOf(res.body)).toMatch(/Content-Type must be application\/json/);
      }
    });
  });

  it('accepts application/json with a charset parameter', async () => {
    const w = writes[0];
    const res = await send(app.url, w.method, w.path, {
      headers: { ...w.headers, 'content-type': 'application/json; charset=utf-8' },
      raw: JSON.stringify({ name: 'Ada Admin' }),
    });
    expect(res.status).toBe(200);
  });

  it('answers 400 in each endpoint shape for malformed JSON, a non-object body or no body', async () => {
    await unchanged(async () => {
      for (const w of writes) {
        for (const raw of ['{"name": ', '[1, 2]', 'null', '"text"', '']) {
          const res = await send(app.url, w.method, w.path, {
            headers: { ...w.headers, 'content-type': 'application/json' },
            raw,
          });
          expect([w.id, raw, res.status]).toEqual([w.id, raw, 400]);
          expect(messageOf(res.body)).toMatch(/JSON/);
        }
      }
    });
    const shapes = await Promise.all(
      writes.map((w) =>
        send(app.url, w.method, w.path, {
          headers: { ...w.headers, 'content-type': 'application/json' },
          raw: '{',
        }),
      ),
    );
    expect(shapes.map((r) => r.body)).toEqual([
      { code: 400, message: expect.any(String) },
      { status: 400, message: expect.any(String) },
      { error: 'validation_error', message: expect.any(String) },
      { success: false, error: expect.any(String) },
      { errors: [{ message: expect.any(String) }] },
    ]);
  });

  it('answers 413 for a body over the configured limit, on every endpoint', async () => {
    await unchanged(async () => {
      for (const w of writes) {
        const res = await send(app.url, w.method, w.path, {
          headers: w.headers,
          json: { name: 'x'.repeat(4096) },
        });
        expect([w.id, res.status]).toEqual([w.id, 413]);
        expect(messageOf(res.body)).toMatch(/larger than 2048 bytes/);
      }
    });
  });

  it('answers 405 with Allow for a wrong method and 204 with Allow for OPTIONS, on every endpoint', async () => {
    for (const w of writes) {
      const res = await send(app.url, 'DELETE', w.path, { headers: w.headers });
      expect([w.id, res.status]).toEqual([w.id, 405]);
      expect(res.headers.get('allow')).toBe(`GET, HEAD, ${w.method}, OPTIONS`);
      const options = await send(app.url, 'OPTIONS', w.path);
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe(`GET, HEAD, ${w.method}, OPTIONS`);
    }
  });

  it('answers 401 with WWW-Authenticate for a missing or malformed credential, on every endpoint', async () => {
    for (const w of writes) {
      for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
        const res = await send(app.url, w.method, w.path, { headers, json: w.valid });
        expect([w.id, res.status]).toEqual([w.id, 401]);
        expect(res.headers.get('www-authenticate')).toBeTruthy();
      }
    }
  });

  it('refuses two different credentials at once with 401', async () => {
    const w = writes[1];
    const res = await send(app.url, w.method, w.path, {
      headers: { ...w.headers, ...bearer(app.world.adminToken) },
      json: w.valid,
    });
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/more than one credential/);
  });

  it('a credential without a write scope gets 403 before its request is read or judged, and changes nothing', async () => {
    const readOnly = async (kind: CredentialKind) =>
      (await app.fixtures.token(app.world.admin.id, kind, { scopes: ['users:read'] })).token;
    const headersOf: Record<string, Record<string, string>> = {
      '000': bearer(await readOnly(CredentialKind.PERSONAL_ACCESS_TOKEN)),
      '001': apiKeyHeader(await readOnly(CredentialKind.API_KEY)),
      '002': bearer(await readOnly(CredentialKind.API_KEY)),
      '003': jwtCookie(await readOnly(CredentialKind.JWT)),
      '004': bearer(await readOnly(CredentialKind.OAUTH)),
    };
    const admin = await app.stored(app.world.admin.id);
    const member = await app.stored(app.world.member.id);
    for (const write of writes) {
      const headers = { ...headersOf[write.id], 'content-type': 'application/json', 'if-match': '"999"' };
      for (const raw of [JSON.stringify({ ...write.valid, role: 'nobody', name: 42 }), '{"name":']) {
        const res = await send(app.url, write.method, write.path, { headers, raw });
        expect([write.id, res.status, messageOf(res.body)]).toEqual([
          write.id,
          403,
          expect.stringMatching(/users:write/),
        ]);
      }
    }
    expect(await app.stored(app.world.admin.id)).toEqual(admin);
    expect(await app.stored(app.world.member.id)).toEqual(member);
  });

  it('never treats /v1/users/me as a user id: PATCH and GET reach document 001 with its credential rule', async () => {
    const apiKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
    const viaBearer = await send(app.url, 'PATCH', '/v1/users/me', {
      headers: bearer(apiKey),
      json: { first_name: 'Me' },
    });
    expect(viaBearer.status).toBe(401);
    expect(viaBearer.body).toEqual({ status: 401, message: expect.stringMatching(/x-api-key/) });
    const get = await send(app.url, 'GET', '/v1/users/me', { headers: apiKeyHeader(apiKey) });
    expect(get.body.id).toBe((await app.stored(app.world.member.id)).uuid);
    for (const spelling of ['ME', 'Me']) {
      const res = await send(app.url, 'GET', `/v1/users/${spelling}`, { headers: bearer(apiKey) });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: 'not_found', message: 'User not found' });
    }
  });

  it('echoes a sane X-Request-Id on REST answers', async () => {
    const res = await send(app.url, 'GET', '/v2/user', {
      headers: { ...bearer(app.world.adminToken), 'x-request-id': 'rest-req-1' },
    });
    expect(res.headers.get('x-request-id')).toBe('rest-req-1');
  });
});

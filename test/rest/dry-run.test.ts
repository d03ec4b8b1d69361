import { errorBody, versionedEndpoints, type VersionedEndpoint } from '../support/endpoints';
import { useApp } from '../support/harness';
import { expectContractResponse, send } from './rest-support';

/** `?dry_run=true` on each documented write: the documented answer, no ETag, nothing written. */
describe('REST dry runs', () => {
  const app = useApp();
  let endpoints: VersionedEndpoint[];
  beforeAll(async () => {
    ({ endpoints } = await versionedEndpoints(app.fixtures, 'Dry REST'));
  });
  const write = (endpoint: VersionedEndpoint, query: string, body: object, headers: object = {}) =>
    send(app.url, endpoint.method, `${endpoint.path(endpoint.user)}${query}`, {
      headers: { ...endpoint.headers, ...headers },
      json: body,
    });
  /** The answer without what differs between a dry run and the write made after it. */
  const comparable = (body: Record<string, unknown>) => {
    const { updated_at, updatedAt, ...rest } = body;
    void updated_at;
    void updatedAt;
    return rest;
  };

  it.each(['000', '001', '002', '003', '004'])(
    '%s answers as the write would, in its documented shape, without an ETag, and stores nothing',
    async (id) => {
      const endpoint = endpoints.find((candidate) => candidate.id === id)!;
      const before = await app.stored(endpoint.user.id);
      const dry = await write(endpoint, '?dry_run=true', endpoint.body(1));
      expect(dry.status).toBe(200);
      expectContractResponse(endpoint.id, dry);
      expect(dry.headers.get('etag')).toBeNull();
      expect(await app.stored(endpoint.user.id)).toEqual(before);
      const real = await write(endpoint, '?dry_run=false', endpoint.body(1));
      expect(real.status).toBe(200);
      expect(real.headers.get('etag')).toBe(`"${before.version + 1}"`);
      expect(comparable(dry.body)).toEqual(comparable(real.body));
      expect((await app.stored(endpoint.user.id)).version).toBe(before.version + 1);
    },
  );

  it.each(['000', '002', '004'])('%s refuses a dry_run that is not true or false, by name', async (id) => {
    const endpoint = endpoints.find((candidate) => candidate.id === id)!;
    const version = (await app.stored(endpoint.user.id)).version;
    for (const query of ['?dry_run=yes', '?dry_run=true&dry_run=false']) {
      const answer = await write(endpoint, query, endpoint.body(2));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject(errorBody(endpoint.id, 400, 'validation_error') as object);
      expect(JSON.stringify(answer.body)).toContain('dry_run');
    }
    expect((await app.stored(endpoint.user.id)).version).toBe(version);
  });

  it('a dry run with an Idempotency-Key keeps nothing under it: the real request with that key writes', async () => {
    const endpoint = endpoints.find((candidate) => candidate.id === '004')!;
    const version = (await app.stored(endpoint.user.id)).version;
    const key = { 'idempotency-key': `dry-${Date.now()}` };
    const dry = await write(endpoint, '?dry_run=true', endpoint.body(3), key);
    expect(dry.status).toBe(200);
    const real = await write(endpoint, '', endpoint.body(3), key);
    expect(real.status).toBe(200);
    expect(real.headers.get('idempotent-replayed')).toBeNull();
    expect((await app.stored(endpoint.user.id)).version).toBe(version + 1);
    const replay = await write(endpoint, '', endpoint.body(3), key);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a refused dry run gets the same error as the write', async () => {
    const endpoint = endpoints.find((candidate) => candidate.id === '002')!;
    const bad = { first_name: 'x'.repeat(500) };
    const dry = await write(endpoint, '?dry_run=true', bad);
    const real = await write(endpoint, '', bad);
    expect(dry.status).toBe(400);
    expect({ status: dry.status, body: dry.body }).toEqual({ status: real.status, body: real.body });
  });
});

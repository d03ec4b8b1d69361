import { operatorContext } from '../../src/auth/principal';
import { IdempotencyKey } from '../../src/entities/idempotency-key.entity';
import { User } from '../../src/entities/user.entity';
import { bearer, send, type RestResponse } from '../rest/rest-support';
import { type EndpointId, errorBody, type VersionedEndpoint, versionedEndpoints } from '../support/endpoints';
import { useApp } from '../support/harness';

describe('Idempotency-Key on the write endpoints', () => {
  let orgId: string;
  let adminToken2: string;
  let endpoints: VersionedEndpoint[];

  const app = useApp();

  beforeAll(async () => {
    const versioned = await versionedEndpoints(app.fixtures, 'Retries');
    ({ orgId, endpoints } = versioned);
    adminToken2 = (await app.fixtures.token(versioned.admin.id)).token;
  });

  /** A body each endpoint refuses with 400. */
  const invalid: Record<EndpointId, Record<string, unknown>> = {
    '000': { name: '' },
    '001': { name: 42 },
    '002': { email: 'not an email' },
    '003': { timezone: 'Mars/Olympus' },
    '004': { metadata: { bad: { nested: true } } },
  };

  let counter = 0;
  const next = () => ++counter;
  const freshKey = () => `key-${Date.now()}-${next()}`;

  const write = (
    e: VersionedEndpoint,
    key: string | undefined,
    json: unknown,
    extra: Record<string, string> = {},
  ) =>
    send(app.url, e.method, e.path(e.user), {
      headers: { ...e.headers, ...(key === undefined ? {} : { 'idempotency-key': key }), ...extra },
      json,
    });

  const historyCount = async (userId: string) =>
    (await app.server.services.history.list(operatorContext(), userId, 100)).changes.length;

  /** A fresh key and body for `e`, and the user's row and the length of its history before they are sent. */
  const prepare = async (e: VersionedEndpoint) => ({
    key: freshKey(),
    body: e.body(next()),
    before: await app.stored(e.user.id),
    changes: await historyCount(e.user.id),
  });

  /** What a client can observe of a response: a replay must be identical in all of it. */
  const observable = (res: RestResponse) => ({
    status: res.status,
    body: res.body,
    etag: res.headers.get('etag'),
  });

  it('a retry with the same key and body returns the first response and writes once, on every endpoint', async () => {
    for (const e of endpoints) {
      const { key, body, before, changes: changesBefore } = await prepare(e);
      const first = await write(e, key, body);
      expect({ endpoint: e.name, status: first.status }).toEqual({ endpoint: e.name, status: 200 });
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const afterFirst = await app.stored(e.user.id);
      expect(afterFirst.version).toBe(before.version + 1);

      for (let retry = 0; retry < 2; retry++) {
        const again = await write(e, key, body);
        expect({ endpoint: e.name, ...observable(again) }).toEqual({
          endpoint: e.name,
          ...observable(first),
        });
        expect(again.headers.get('idempotent-replayed')).toBe('true');
      }
      expect(await app.stored(e.user.id)).toEqual(afterFirst);
      expect(await historyCount(e.user.id)).toBe(changesBefore + 1);
    }
  });

  it('a replay is the first response even when the user changed since', async () => {
    const e = endpoints[4];
    const key = freshKey();
    const body = e.body(next());
    const first = await write(e, key, body);
    const other = await write(e, undefined, e.body(next()));
    expect(other.status).toBe(200);
    const replay = await write(e, key, body);
    expect(observable(replay)).toEqual(observable(first));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await app.stored(e.user.id)).version).toBe(Number(JSON.parse(other.headers.get('etag')!)));
  });

  it('a retry sent with If-Unmodified-Since or If-None-Match is the first response too, not a 412', async () => {
    for (const e of endpoints) {
      // Each holds for the first request and no longer for its retry, which the first write changed.
      const preconditions = {
        'if-unmodified-since': async () => {
          await app.server.services.db.write((m) =>
            m.getRepository(User).update({ id: e.user.id }, { updatedAt: '2025-01-01T00:00:00.000Z' }),
          );
          return 'Wed, 01 Jan 2025 00:00:00 GMT';
        },
        'if-none-match': async () => `"${(await app.stored(e.user.id)).version + 1}"`,
      };
      for (const [name, holdsNow] of Object.entries(preconditions)) {
        const value = await holdsNow();
        const { key, body, changes } = await prepare(e);
        const first = await write(e, key, body, { [name]: value });
        const seen = { endpoint: e.name, name };
        expect({ ...seen, status: first.status }).toEqual({ ...seen, status: 200 });
        const retry = await write(e, key, body, { [name]: value });
        expect({ ...seen, ...observable(retry) }).toEqual({ ...seen, ...observable(first) });
        expect(retry.headers.get('idempotent-replayed')).toBe('true');
        expect(await historyCount(e.user.id)).toBe(changes + 1);
        // The same key with another value of the precondition is another request.
        const other = await write(e, key, body, {
          [name]: name === 'if-none-match' ? '"999999"' : 'Mon, 01 Jan 2024 00:00:00 GMT',
        });
        expect({ ...seen, status: other.status }).toEqual({ ...seen, status: 422 });
      }
    }
  });

  it('004: a retry after the process died between the write and its stored answer repeats the write’s answer, read-only fields it sent included', async () => {
    const e = endpoints.find((endpoint) => endpoint.id === '004')!;
    const { key, changes } = await prepare(e);
    const before = await app.stored(e.user.id);
    // The body restates read-only fields as they are: true for the first attempt, not for the user it left.
    const body = { ...e.body(next()), id: e.user.id, updatedAt: before.updatedAt };
    const first = await write(e, key, body);
    expect(first.status).toBe(200);
    // As if the process died after the write committed and before the answer was stored.
    await app.server.services.db.write((m) =>
      m
        .getRepository(IdempotencyKey)
        .update({ key }, { status: null, responseBody: null, responseHeaders: null }),
    );
    const retry = await write(e, key, body);
    expect(observable(retry)).toEqual(observable(first));
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await historyCount(e.user.id)).toBe(changes + 1);
  });

  it('the same key with another body or another path is refused with 422 and changes nothing', async () => {
    for (const e of endpoints) {
      const key = freshKey();
      const first = await write(e, key, e.body(next()));
      expect(first.status).toBe(200);
      const stored = await app.stored(e.user.id);
      const changes = await historyCount(e.user.id);
      const reused = await write(e, key, e.body(next()));
      expect({ endpoint: e.name, status: reused.status, body: reused.body }).toEqual({
        endpoint: e.name,
        status: 422,
        // The endpoint's own error shape for a key reused with another request.
        body: errorBody(e.id, 422, 'idempotency_key_reused'),
      });
      // The same request with a different If-Match is a different request too.
      const conditional = await write(e, key, e.body(next()), { 'if-match': first.headers.get('etag')! });
      expect(conditional.status).toBe(422);
      expect(await app.stored(e.user.id)).toEqual(stored);
      expect(await historyCount(e.user.id)).toBe(changes);
    }
    // On 004 the path names the user: the same key and body for another user is another request.
    const e = endpoints[4];
    const key = freshKey();
    const body = e.body(next());
    expect((await write(e, key, body)).status).toBe(200);
    const elsewhere = await app.fixtures.user(orgId);
    const before = await app.stored(elsewhere.id);
    const res = await write({ ...e, user: elsewhere }, key, body);
    expect(res.status).toBe(422);
    expect(await app.stored(elsewhere.id)).toEqual(before);
  });

  it('the same key used by a different credential is independent of it', async () => {
    const e = endpoints[4];
    const key = freshKey();
    const body = { metadata: { a: next() } };
    const before = await app.stored(e.user.id);
    const first = await write(e, key, body);
    const second = await write(e, key, body, bearer(adminToken2));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    // The second credential's request really ran: it found nothing to change (the value was already set).
    expect(first.headers.get('etag')).toBe(`"${before.version + 1}"`);
    expect(second.headers.get('etag')).toBe(`"${before.version + 1}"`);

    const other = { name: `Independent ${next()}` };
    const a = await write(e, key + '-x', other);
    const b = await write(e, key + '-x', { ...other, name: `${other.name}!` }, bearer(adminToken2));
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((await app.stored(e.user.id)).name).toBe(`${other.name}!`);
    expect((await app.stored(e.user.id)).version).toBe(before.version + 3);
  });

  it('10 concurrent requests with one key write once; the others replay it or are told it is in progress', async () => {
    for (const e of endpoints) {
      const { key, body, before, changes } = await prepare(e);
      const responses = await Promise.all(Array.from({ length: 10 }, () => write(e, key, body)));
      const original = responses.filter(
        (res) => res.status === 200 && res.headers.get('idempotent-replayed') === null,
      );
      expect({ endpoint: e.name, originals: original.length }).toEqual({ endpoint: e.name, originals: 1 });
      for (const res of responses) {
        if (res === original[0]) continue;
        if (res.status === 409) {
          // The endpoint's own error shape while the first request with the key is running.
          expect(res.body).toEqual(errorBody(e.id, 409, 'conflict'));
        } else {
          expect(observable(res)).toEqual(observable(original[0]));
          expect(res.headers.get('idempotent-replayed')).toBe('true');
        }
      }
      expect((await app.stored(e.user.id)).version).toBe(before.version + 1);
      expect(await historyCount(e.user.id)).toBe(changes + 1);
      // Once the first has finished, every retry gets its answer.
      const late = await write(e, key, body);
      expect(observable(late)).toEqual(observable(original[0]));
    }
  });

  it('a refused request does not use up its key: a corrected retry with the same key is carried out', async () => {
    for (const e of endpoints) {
      const key = freshKey();
      const before = await app.stored(e.user.id);
      const refused = await write(e, key, invalid[e.id]);
      expect({ endpoint: e.name, status: refused.status }).toEqual({ endpoint: e.name, status: 400 });
      expect(await app.stored(e.user.id)).toEqual(before);
      // The same refused request again is judged again (and refused again), not replayed.
      const refusedAgain = await write(e, key, invalid[e.id]);
      expect(refusedAgain.status).toBe(400);
      expect(refusedAgain.headers.get('idempotent-replayed')).toBeNull();

      const corrected = e.body(next());
      const done = await write(e, key, corrected);
      expect(done.status).toBe(200);
      expect(done.headers.get('idempotent-replayed')).toBeNull();
      expect((await app.stored(e.user.id)).version).toBe(before.version + 1);
      // From now on the key belongs to the request that succeeded.
      expect((await write(e, key, corrected)).headers.get('idempotent-replayed')).toBe('true');
      expect((await write(e, key, invalid[e.id])).status).toBe(422);
    }
  });

  it('a request refused with a conflict can be retried with its key once the conflict is gone', async () => {
    const e = endpoints[4];
    const holder = await app.fixtures.user(orgId, { email: `taken-${next()}@example.com` });
    const key = freshKey();
    const body = { email: holder.email.toUpperCase() };
    const before = await app.stored(e.user.id);
    const conflict = await write(e, key, body);
    expect(conflict.status).toBe(409);
    expect(conflict.body).toEqual({ errors: [{ field: 'email', message: 'Email already taken' }] });
    expect(await app.stored(e.user.id)).toEqual(before);

    const freed = await write({ ...e, user: holder }, undefined, { email: `moved-${next()}@example.com` });
    expect(freed.status).toBe(200);
    const retry = await write(e, key, body);
    expect(retry.status).toBe(200);
    expect(retry.body.email).toBe(holder.email.toUpperCase());
  });

  it('an Idempotency-Key that is not 1 to 255 printable ASCII characters is refused with 400', async () => {
    const e = endpoints[4];
    const before = await app.stored(e.user.id);
    for (const key of ['x'.repeat(256), 'with space']) {
      const res = await write(e, key, e.body(next()));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ errors: [{ field: 'Idempotency-Key', message: expect.any(String) }] });
    }
    expect(await app.stored(e.user.id)).toEqual(before);
  });
});

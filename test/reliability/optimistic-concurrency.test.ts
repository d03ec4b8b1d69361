import { CredentialKind } from '../../src/entities/enums';
import { User } from '../../src/entities/user.entity';
import { bearer, send, type RestResponse } from '../rest/rest-support';
import { errorBody, type VersionedEndpoint, versionedEndpoints } from '../support/endpoints';
import { gql, useApp } from '../support/harness';
import { rawRequest } from '../support/http';

describe('optimistic concurrency: ETag, If-Match and expectedVersion', () => {
  let endpoints: VersionedEndpoint[];
  let adminToken: string;

  const app = useApp();

  beforeAll(async () => {
    ({ endpoints, adminToken } = await versionedEndpoints(app.fixtures, 'Versioned'));
  });

  /** The endpoint's own error shape for a failed precondition. */
  const preconditionFailed = (e: VersionedEndpoint) => errorBody(e.id, 412, 'precondition_failed');
  /** `res`, the answer of `e` to a request that sent the headers `sent`, is a 412 in the endpoint's error shape. */
  const expectPreconditionFailed = (e: VersionedEndpoint, sent: Record<string, string>, res: RestResponse) =>
    expect({ endpoint: e.name, sent, status: res.status, body: res.body }).toEqual({
      endpoint: e.name,
      sent,
      status: 412,
      body: preconditionFailed(e),
    });

  const call = (e: VersionedEndpoint, method: string, extra: Record<string, string>, n = 0) =>
    send(app.url, method, e.path(e.user), {
      headers: { ...e.headers, ...extra },
      json: method === 'GET' ? undefined : e.body(n),
    });
  let counter = 0;
  const next = () => ++counter;

  /** What the ETag checks compare: the answer's status and ETag, with the endpoint's name for the message. */
  const tagOf = (e: VersionedEndpoint, res: RestResponse) => ({
    endpoint: e.name,
    status: res.status,
    etag: res.headers.get('etag'),
  });
  /** A successful answer of `e` carrying the ETag of `version`. */
  const okAt = (e: VersionedEndpoint, version: number) => ({
    endpoint: e.name,
    status: 200,
    etag: `"${version}"`,
  });

  it('every REST user response, GET and write on each of the five endpoints, carries ETag "<version>"', async () => {
    for (const e of endpoints) {
      const before = await app.stored(e.user.id);
      const read = await call(e, 'GET', {});
      expect(tagOf(e, read)).toEqual(okAt(e, before.version));
      const written = await call(e, e.method, {}, next());
      const after = await app.stored(e.user.id);
      expect(after.version).toBe(before.version + 1);
      expect(tagOf(e, written)).toEqual(okAt(e, after.version));
    }
  });

  it('an If-Match that does not match gets 412 in the endpoint error shape and changes nothing', async () => {
    for (const e of endpoints) {
      const before = await app.stored(e.user.id);
      const current = `"${before.version}"`;
      // RFC 9110 §13.1.1: If-Match compares strongly, so a weak tag never matches, not even the current one.
      const refused = [
        `"${before.version - 1}"`,
        `"${before.version + 1}"`,
        `W/${current}`,
        `W/"0", W/${current}`,
        `"0${before.version}"`,
        'garbage',
        `${current}, garbage`,
      ];
      for (const ifMatch of refused) {
        const sent = { 'if-match': ifMatch };
        expectPreconditionFailed(e, sent, await call(e, e.method, sent, next()));
        expect(await app.stored(e.user.id)).toEqual(before);
      }
    }
  });

  it('a matching If-Match succeeds and the new ETag is the next version', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const version = Number(JSON.parse(etag));
      const res = await call(e, e.method, { 'if-match': etag }, next());
      expect(tagOf(e, res)).toEqual(okAt(e, version + 1));
      // A list matches when one of its strong tags is the current ETag, in any position.
      const listed = await call(e, e.method, { 'if-match': `"0", W/"9", "${version + 1}"` }, next());
      expect(tagOf(e, listed)).toEqual(okAt(e, version + 2));
      // `*` matches any existing user.
      const any = await call(e, e.method, { 'if-match': '*' }, next());
      expect(any.headers.get('etag')).toBe(`"${version + 3}"`);
      expect((await app.stored(e.user.id)).version).toBe(version + 3);
      // The ETag it had before is now stale, alone or in a list of stale ones.
      expect((await call(e, e.method, { 'if-match': etag }, next())).status).toBe(412);
      expect((await call(e, e.method, { 'if-match': `${etag}, "${version + 1}"` }, next())).status).toBe(412);
      expect((await app.stored(e.user.id)).version).toBe(version + 3);
    }
  });

  it('a conditional GET: If-None-Match naming the current ETag (weakly compared) answers 304 with it and no body; If-Match not matching, 412', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      for (const ifNoneMatch of [etag, `W/${etag}`, `"0", ${etag}`, '*']) {
        const res = await call(e, 'GET', { 'if-none-match': ifNoneMatch });
        expect({
          endpoint: e.name,
          ifNoneMatch,
          status: res.status,
          etag: res.headers.get('etag'),
          body: res.body,
        }).toEqual({ endpoint: e.name, ifNoneMatch, status: 304, etag, body: '' });
      }
      const stale = await call(e, 'GET', { 'if-none-match': `"${Number(JSON.parse(etag)) - 1}"` });
      expect(tagOf(e, stale)).toEqual(okAt(e, Number(JSON.parse(etag))));
      for (const ifMatch of ['"0"', `W/${etag}`]) {
        const sent = { 'if-match': ifMatch };
        expectPreconditionFailed(e, sent, await call(e, 'GET', sent));
      }
      expect((await call(e, 'GET', { 'if-match': `"0", ${etag}` })).status).toBe(200);
    }
  });

  it('If-None-Match on a write: * or the current ETag gets 412 and changes nothing; a stale one lets it through', async () => {
    for (const e of endpoints) {
      const before = await app.stored(e.user.id);
      const current = `"${before.version}"`;
      for (const ifNoneMatch of ['*', current, `W/${current}`, `"0", ${current}`]) {
        const sent = { 'if-none-match': ifNoneMatch };
        expectPreconditionFailed(e, sent, await call(e, e.method, sent, next()));
        expect(await app.stored(e.user.id)).toEqual(before);
      }
      const res = await call(e, e.method, { 'if-none-match': `"${before.version - 1}"` }, next());
      expect(tagOf(e, res)).toEqual(okAt(e, before.version + 1));
    }
  });

  it('a change that comes in after If-None-Match or If-Unmodified-Since was judged gets 412, named after the condition, and the write is not made', async () => {
    /** The message of an answer in `e`'s error shape. */
    const messageOf = (e: VersionedEndpoint, res: RestResponse): string => {
      const body = res.body as { message?: string; error?: string; errors?: { message: string }[] };
      return e.id === '003' ? body.error! : e.id === '004' ? body.errors![0].message : body.message!;
    };
    const port = app.services.db.users;
    const applyChanges = port.applyChanges.bind(port);
    for (const e of endpoints) {
      const lastModified = (await call(e, 'GET', {})).headers.get('last-modified')!;
      for (const [sent, named] of [
        [{ 'if-none-match': '"0"' }, /If-None-Match/],
        [{ 'if-unmodified-since': lastModified }, /If-Unmodified-Since/],
      ] as const) {
        // Another writer's change commits just before this write.
        jest.spyOn(port, 'applyChanges').mockImplementationOnce(async (changes, options) => {
          await app.services.db.write((m) =>
            m.getRepository(User).increment({ id: e.user.id }, 'version', 1),
          );
          return applyChanges(changes, options);
        });
        const before = await app.stored(e.user.id);
        const res = await call(e, e.method, sent, next());
        expectPreconditionFailed(e, sent, res);
        expect([e.name, messageOf(e, res)]).toEqual([e.name, expect.stringMatching(named)]);
        expect(await app.stored(e.user.id)).toEqual({ ...before, version: before.version + 1 });
      }
    }
    jest.restoreAllMocks();
  });

  it('Last-Modified is the last change; If-Modified-Since answers 304 and If-Unmodified-Since 412 as RFC 9110 orders them', async () => {
    const hourBefore = (date: string) => new Date(Date.parse(date) - 3_600_000).toUTCString();
    for (const e of endpoints) {
      const read = await call(e, 'GET', {});
      const stored = await app.stored(e.user.id);
      const lastModified = read.headers.get('last-modified')!;
      expect(lastModified).toBe(new Date(stored.updatedAt).toUTCString());
      expect((await call(e, 'GET', { 'if-modified-since': lastModified })).status).toBe(304);
      expect((await call(e, 'GET', { 'if-modified-since': hourBefore(lastModified) })).status).toBe(200);
      // If-None-Match, when sent, decides instead of If-Modified-Since.
      expect(
        (await call(e, 'GET', { 'if-modified-since': lastModified, 'if-none-match': '"0"' })).status,
      ).toBe(200);
      expect((await call(e, 'GET', { 'if-unmodified-since': hourBefore(lastModified) })).status).toBe(412);
      // A date that is no date is ignored.
      expect((await call(e, 'GET', { 'if-unmodified-since': 'yesterday-ish' })).status).toBe(200);

      const before = await app.stored(e.user.id);
      const sent = { 'if-unmodified-since': hourBefore(lastModified) };
      expectPreconditionFailed(e, sent, await call(e, e.method, sent, next()));
      expect(await app.stored(e.user.id)).toEqual(before);
      // If-Match, when sent, decides instead of If-Unmodified-Since.
      const matched = await call(
        e,
        e.method,
        { 'if-unmodified-since': hourBefore(lastModified), 'if-match': `"${before.version}"` },
        next(),
      );
      expect(tagOf(e, matched)).toEqual(okAt(e, before.version + 1));
      const current = (await call(e, 'GET', {})).headers.get('last-modified')!;
      const written = await call(e, e.method, { 'if-unmodified-since': current }, next());
      expect(tagOf(e, written)).toEqual(okAt(e, before.version + 2));
      expect(written.headers.get('last-modified')).toBe(
        new Date((await app.stored(e.user.id)).updatedAt).toUTCString(),
      );
    }
  });

  it('a date condition counts only as an HTTP-date (any of its three forms, in GMT), sent once; anything else is ignored', async () => {
    const e = endpoints[0];
    const lastModified = (await call(e, 'GET', {})).headers.get('last-modified')!;
    const at = new Date(lastModified);
    const day = at.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
    const [, dd, mon, yyyy, time] = lastModified.split(' ');
    const rfc850 = `${day}, ${dd}-${mon}-${yyyy.slice(2)} ${time} GMT`;
    const asctime = `${day.slice(0, 3)} ${mon} ${String(at.getUTCDate()).padStart(2, ' ')} ${time} ${yyyy}`;
    for (const date of [lastModified, rfc850, asctime])
      expect({ date, status: (await call(e, 'GET', { 'if-modified-since': date })).status }).toEqual({
        date,
        status: 304,
      });
    // Dates far ahead, but not HTTP-dates (or not in GMT, or no such day): ignored, so 200, never 304.
    for (const date of [
      '2099',
      '2100-01-01T00:00:00Z',
      'Fri, 01 Jan 2100 00:00:00 +0200',
      'Fri, 01 Jan 2100 00:00:00',
      'Mon, 31 Feb 2100 00:00:00 GMT',
      'fri, 01 jan 2100 00:00:00 gmt',
    ])
      expect({ date, status: (await call(e, 'GET', { 'if-modified-since': date })).status }).toEqual({
        date,
        status: 200,
      });
    // Likewise If-Unmodified-Since with a date long past: a 412 only when it is an HTTP-date.
    expect((await call(e, 'GET', { 'if-unmodified-since': '1' })).status).toBe(200);
    expect((await call(e, 'GET', { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:01 GMT' })).status).toBe(
      412,
    );
    // Sent twice, a date condition is not one HTTP-date: ignored.
    const future = 'Fri, 01 Jan 2100 00:00:00 GMT';
    expect((await call(e, 'GET', { 'if-modified-since': future })).status).toBe(304);
    const twice = await rawRequest(app.url, 'GET', e.path(e.user), {
      ...e.headers,
      'if-modified-since': [future, future],
    });
    expect(twice.status).toBe(200);
  });

  it('an entity tag may hold a comma: a list is split between tags, not inside one', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const res = await call(e, e.method, { 'if-match': `"a,b", ${etag}` }, next());
      expect(tagOf(e, res)).toEqual(okAt(e, Number(JSON.parse(etag)) + 1));
    }
  });

  it('user answers are for the caller alone: no shared cache keeps them, and a private one asks again', async () => {
    for (const e of endpoints) {
      // A read, a write, and a write refused by its precondition.
      const answers = [
        [await call(e, 'GET', {}), 200],
        [await call(e, e.method, {}, next()), 200],
        [await call(e, e.method, { 'if-match': '"0"' }, next()), 412],
      ] as const;
      for (const [res, status] of answers) {
        expect({
          endpoint: e.name,
          status: res.status,
          cache: res.headers.get('cache-control'),
          vary: res.headers.get('vary'),
        }).toEqual({
          endpoint: e.name,
          status,
          cache: 'private, no-cache',
          vary: 'Authorization, X-API-Key, X-JWT-Token, Cookie',
        });
      }
    }
  });

  it('PATCH endpoints say which media types they take (Accept-Patch) on OPTIONS and when refusing one', async () => {
    for (const e of endpoints.filter((endpoint) => endpoint.method === 'PATCH')) {
      const options = await send(app.url, 'OPTIONS', e.path(e.user), { headers: e.headers });
      expect({
        endpoint: e.name,
        status: options.status,
        acceptPatch: options.headers.get('accept-patch'),
      }).toEqual({
        endpoint: e.name,
        status: 204,
        acceptPatch: 'application/json, application/merge-patch+json',
      });
      const refused = await send(app.url, 'PATCH', e.path(e.user), {
        headers: { ...e.headers, 'content-type': 'text/plain' },
        raw: '{}',
      });
      expect({
        endpoint: e.name,
        status: refused.status,
        acceptPatch: refused.headers.get('accept-patch'),
      }).toEqual({
        endpoint: e.name,
        status: 415,
        acceptPatch: 'application/json, application/merge-patch+json',
      });
    }
  });

  it("a write's conditions are judged after its own checks (RFC 9110 §13.2.1): 403 and 400 come before 412", async () => {
    const e = endpoints.find((endpoint) => endpoint.id === '004')!;
    const { token } = await app.fixtures.token(endpoints[0].user.id, CredentialKind.OAUTH);
    const before = await app.stored(e.user.id);
    const conditions: Record<string, string>[] = [
      { 'if-match': '"99"' },
      { 'if-none-match': '*' },
      { 'if-none-match': `"${before.version}"` },
      { 'if-unmodified-since': 'Mon, 01 Jan 2024 00:00:00 GMT' },
    ];
    for (const sent of conditions) {
      // A member changing another member of the organization: not allowed, whatever the condition.
      const byMember = await send(app.url, e.method, e.path(e.user), {
        headers: { ...bearer(token), ...sent },
        json: { name: 'Not Mine' },
      });
      expect({ sent, status: byMember.status }).toEqual({ sent, status: 403 });
      // An invalid body from the admin: 400, naming the field, whatever the condition.
      const invalid = await send(app.url, e.method, e.path(e.user), {
        headers: { ...e.headers, ...sent },
        json: { email: 'not-an-email' },
      });
      expect({ sent, status: invalid.status, field: invalid.body.errors?.[0]?.field }).toEqual({
        sent,
        status: 400,
        field: 'email',
      });
      // Valid, and allowed: the condition answers.
      expectPreconditionFailed(e, sent, await call(e, e.method, sent, next()));
    }
    expect(await app.stored(e.user.id)).toEqual(before);
  });

  it('If-Match on a user that does not exist answers 404, not 412', async () => {
    const e = endpoints[4];
    const missing = { ...e, user: { ...e.user, id: 'usr_doesnotexist0000000000' } as User };
    for (const ifMatch of ['*', '"1"', 'W/"1"', '"1", "2"']) {
      const res = await call(missing, e.method, { 'if-match': ifMatch }, next());
      expect({ ifMatch, status: res.status }).toEqual({ ifMatch, status: 404 });
    }
  });

  it('of two writers holding the same ETag, exactly one wins and the other gets 412', async () => {
    for (const e of endpoints) {
      const etag = (await call(e, 'GET', {})).headers.get('etag')!;
      const results = await Promise.all(
        [next(), next()].map((n) => call(e, e.method, { 'if-match': etag }, n)),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 412]);
      expect((await app.stored(e.user.id)).version).toBe(Number(JSON.parse(etag)) + 1);
    }
  });

  const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!, $v: Int) {
    updateUser(id: $id, input: $input, expectedVersion: $v) { id jobTitle version } }`;
  const UPDATE_ME = `mutation ($input: UpdateMeInput!, $v: Int) {
    updateMe(input: $input, expectedVersion: $v) { id jobTitle version } }`;
  /** Sets the job title of user `id` as the admin, or of the caller (`token`), expecting version `v`. */
  const updateUser = (id: string, jobTitle: string, v: number) =>
    gql(app.url, UPDATE_USER, { id, input: { jobTitle }, v }, bearer(adminToken));
  const updateMe = (token: string, jobTitle: string, v: number) =>
    gql(app.url, UPDATE_ME, { input: { jobTitle }, v }, bearer(token));

  it('GraphQL updateUser with a stale expectedVersion answers CONFLICT with the current version', async () => {
    const target = endpoints[2].user;
    const before = await app.stored(target.id);
    const stale = await updateUser(target.id, 'stale', before.version - 1);
    expect(stale.body.data).toBeNull();
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      currentVersion: before.version,
    });
    expect(await app.stored(target.id)).toEqual(before);

    const fresh = await updateUser(target.id, 'fresh', before.version);
    expect(fresh.body.errors).toBeUndefined();
    expect(fresh.body.data.updateUser).toMatchObject({ jobTitle: 'fresh', version: before.version + 1 });
  });

  it('GraphQL updateMe with a stale expectedVersion answers CONFLICT with the current version', async () => {
    const target = endpoints[0].user;
    const token = endpoints[0].headers.authorization.replace('Bearer ', '');
    const before = await app.stored(target.id);
    const stale = await updateMe(token, 'stale', before.version + 5);
    expect(stale.body.errors?.[0].extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'version',
      currentVersion: before.version,
    });
    expect(await app.stored(target.id)).toEqual(before);
    const fresh = await updateMe(token, 'fresh', before.version);
    expect(fresh.body.data.updateMe).toMatchObject({ jobTitle: 'fresh', version: before.version + 1 });
  });
});

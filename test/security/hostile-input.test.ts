import { appGlobals } from '../support/app-globals';
import { bearer, useApp } from '../support/harness';
import { send, type RestResponse } from '../rest/rest-support';
import {
  credentialsFor,
  expectErrorShape,
  restTargets,
  type Credentials,
  type RestTarget,
} from './security-support';

/** JSON text, so that values JSON.stringify cannot produce (lone surrogates, 1e400) reach the server as sent. */
type Raw = string;

const KB10 = 10 * 1024;
const str = (value: string): Raw => JSON.stringify(value);

/** Hostile values for a free-text field. */
const TEXT: Array<[string, Raw]> = [
  ['a NUL byte', str('a\u0000b')],
  ['a lone high surrogate', '"\\ud800"'],
  ['a lone low surrogate inside text', '"x\\udc00y"'],
  ['a reversed surrogate pair', '"\\udc00\\ud800"'],
  ['a 10 KB string', str('x'.repeat(KB10))],
  ['a huge number', '1e400'],
  ['a long integer', '123456789012345678901234567890'],
  ['an array where a string belongs', '["a"]'],
  ['an object where a string belongs', '{"a":"b"}'],
  ['a deeply nested array', `${'['.repeat(5000)}"x"${']'.repeat(5000)}`],
  ['a deeply nested object', `${'{"a":'.repeat(3000)}"x"${'}'.repeat(3000)}`],
  ['a __proto__ object', '{"__proto__":{"polluted":true}}'],
  ['a boolean', 'true'],
  ['a right-to-left override (shown as other text than it holds)', str('Bob\u202egnp.exe')],
  ['a bidirectional isolate', str('a\u2067b\u2069')],
  ['a line separator', str('first\u2028second')],
];

/** Emails that only look like one, or hide something. */
const EMAILS: Array<[string, Raw]> = [
  ['a fullwidth letter', str('\uff41@example.com')],
  ['a zero-width space', str('a@exa\u200bmple.com')],
  ['a right-to-left override', str('\u202eadmin@example.com')],
  ['a Cyrillic homoglyph', str('\u0430dmin@example.com')],
  ['a non-ASCII domain', str('admin@ex\u00e4mple.com')],
  ['a NUL byte', str('admin@example.com\u0000')],
  ['a lone surrogate', '"admin\\ud800@example.com"'],
  ['a 10 KB address', str(`${'a'.repeat(KB10)}@example.com`)],
  ['a newline (header injection)', str('admin@example.com\r\nBcc: x@example.com')],
  ['an array', '["admin@example.com"]'],
  ['a quoted local part naming another address', str('"x@evil.test"@example.com')],
  ['a quoted local part (the same mailbox as an unquoted one)', str('"admin"@example.com')],
  ['a backslash', str('ad\\min@example.com')],
];

/** Hostile metadata objects (metadata is a flat object of scalars). */
const METADATA: Array<[string, Raw]> = [
  ['a NUL byte in a value', '{"k":"a\\u0000b"}'],
  ['a NUL byte in a key', '{"k\\u0000":"v"}'],
  ['a lone surrogate in a value', '{"k":"\\ud800"}'],
  ['a lone surrogate in a key', '{"\\udfff":"v"}'],
  ['a 10 KB value', `{"k":${str('v'.repeat(KB10))}}`],
  ['a 10 KB key', `{${str('k'.repeat(KB10))}:1}`],
  ['a huge number', '{"k":1e400}'],
  ['a negative huge number', '{"k":-1e400}'],
  ['a nested object', '{"k":{"n":1}}'],
  ['an array value', '{"k":[1,2]}'],
  ['a deeply nested value', `{"k":${'['.repeat(5000)}1${']'.repeat(5000)}}`],
  ['a __proto__ object', '{"__proto__":{"polluted":true}}'],
  ['a constructor object', '{"constructor":{"prototype":{"polluted":true}}}'],
  ['an array instead of an object', '[{"k":"v"}]'],
  ['a string instead of an object', '"k=v"'],
];

/**
 * Prototype-named metadata keys with scalar values are ordinary keys by design (test/graphql/update-user
 * pins it): they are stored as own keys and pollute nothing.
 */
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'];

/** Top-level bodies that try to reach prototypes or bury the parser. */
const BODIES = (valid: Record<string, unknown>): Array<[string, Raw]> => {
  const fields = JSON.stringify(valid).slice(1, -1);
  return [
    ['a __proto__ key', `{${fields},"__proto__":{"role":"admin","polluted":true}}`],
    ['a constructor key', `{${fields},"constructor":{"prototype":{"polluted":true}}}`],
    ['a prototype key', `{${fields},"prototype":{"polluted":true}}`],
    ['a deeply nested body', `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`],
    ['a deeply nested array body', `${'['.repeat(10000)}${']'.repeat(10000)}`],
    ['a field nested 30,000 deep', `{${fields},"zz":${'['.repeat(30000)}${']'.repeat(30000)}}`],
    ['a NUL byte in a key', `{${fields},"na\\u0000me":"x"}`],
    ['a lone surrogate in a key', `{${fields},"\\ud800":"x"}`],
  ];
};

describe('hostile input: always a clear 4xx in the endpoint shape, never 500, nothing stored', () => {
  let admin: Credentials;
  /** The admin's view of every endpoint; the by-id endpoints address the member. */
  let targets: RestTarget[];

  const app = useApp({ world: true });

  beforeAll(async () => {
    admin = await credentialsFor(app.fixtures, app.world.admin);
    targets = restTargets(admin, app.world.admin, app.world.member);
  });

  const target = (id: string) => targets.find((t) => t.id === id)!;

  /** Every user of the world, as stored. */
  const snapshot = () =>
    Promise.all(
      [app.world.admin, app.world.member, app.world.viewer, app.world.outsider].map((u) => app.stored(u.id)),
    );

  /** Runs `attempt`, which `check` must find refused; nothing stored changes and no prototype is polluted. */
  async function refused(
    label: string,
    attempt: () => Promise<RestResponse>,
    check: (res: RestResponse) => void,
  ) {
    const before = await snapshot();
    const res = await attempt();
    check(res);
    expect([label, await snapshot()]).toEqual([label, before]);
    // The app's prototypes: its code runs with the worker's globals, not this file's (app-globals.ts).
    expect(appGlobals.Object.prototype).not.toHaveProperty('polluted');
    expect(appGlobals.Object.prototype).not.toHaveProperty('role');
  }

  const rest = (t: RestTarget, raw: Raw, headers: Record<string, string> = {}) =>
    send(app.url, t.method, t.path, {
      headers: { ...t.headers, 'content-type': 'application/json', ...headers },
      raw,
    });

  const expectRest =
    (t: RestTarget, status = 400) =>
    (res: RestResponse) =>
      expectErrorShape(t.id, res, status);

  /** A GraphQL mutation with `input` spliced in as raw JSON text. */
  const graphql = (mutation: 'updateMe' | 'updateUser', inputRaw: Raw, token = admin.pat) => {
    const query =
      mutation === 'updateMe'
        ? 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }'
        : 'mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }';
    const raw = `{"query":${JSON.stringify(query)},"variables":{"id":${JSON.stringify(app.world.member.id)},"input":${inputRaw}}}`;
    return send(app.url, 'POST', '/graphql', {
      headers: { ...bearer(token), 'content-type': 'application/json' },
      raw,
    });
  };

  /**
   * GraphQL's error shape: refused before execution it is HTTP 400; refused by input validation in the
   * resolver it is HTTP 200 with BAD_USER_INPUT (the GraphQL-over-HTTP convention), never a 5xx.
   */
  const expectGraphqlRefusal = (res: RestResponse) => {
    expect([200, 400]).toContain(res.status);
    expect(res.body.data ?? null).toBeNull();
    expect(['BAD_USER_INPUT', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_REQUEST']).toContain(
      res.body.errors?.[0].extensions?.code,
    );
  };

  describe('/graphql', () => {
    const textFields = ['name', 'username', 'firstName', 'jobTitle', 'companyName', 'timezone'];

    it.each(TEXT)('%s in any text field of updateMe and updateUser is refused', async (what, raw) => {
      for (const field of textFields) {
        await refused(
          `${field}: ${what}`,
          () => graphql('updateMe', `{"${field}":${raw}}`),
          expectGraphqlRefusal,
        );
        await refused(
          `${field}: ${what}`,
          () => graphql('updateUser', `{"${field}":${raw}}`),
          expectGraphqlRefusal,
        );
      }
    });

    it.each(EMAILS)('an email with %s is refused', async (what, raw) => {
      await refused(what, () => graphql('updateMe', `{"email":${raw}}`), expectGraphqlRefusal);
      await refused(what, () => graphql('updateUser', `{"email":${raw}}`), expectGraphqlRefusal);
    });

    it.each(METADATA)('metadata with %s is refused', async (what, raw) => {
      await refused(what, () => graphql('updateUser', `{"metadata":${raw}}`), expectGraphqlRefusal);
    });

    it.each(TEXT)('experiments with %s as an item is refused', async (what, raw) => {
      await refused(what, () => graphql('updateMe', `{"experiments":[${raw}]}`), expectGraphqlRefusal);
    });

    it('__proto__ and constructor keys in the input object are refused', async () => {
      for (const raw of [
        '{"name":"x","__proto__":{"role":"ADMIN"}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
      ]) {
        await refused(raw, () => graphql('updateUser', raw), expectGraphqlRefusal);
      }
    });

    it('a lone surrogate or NUL in the query text itself is refused', async () => {
      for (const literal of ['\\ud800', '\\u0000']) {
        const query = `mutation { updateMe(input: { name: "a${literal}b" }) { id } }`;
        await refused(
          literal,
          () =>
            send(app.url, 'POST', '/graphql', {
              headers: { ...bearer(admin.pat), 'content-type': 'application/json' },
              raw: `{"query":"${query.replace(/"/g, '\\"')}"}`,
            }),
          expectGraphqlRefusal,
        );
      }
    });

    it('ids that cannot be ours (NUL, lone surrogate, 10 KB) name nobody: null or NOT_FOUND, never a 500', async () => {
      for (const id of ['usr_\u0000', '\ud800', 'x'.repeat(KB10), "usr_' OR '1'='1"]) {
        const idRaw = id === '\ud800' ? '"\\ud800"' : JSON.stringify(id);
        const post = (query: string) =>
          send(app.url, 'POST', '/graphql', {
            headers: { ...bearer(admin.pat), 'content-type': 'application/json' },
            raw: `{"query":${JSON.stringify(query)},"variables":{"id":${idRaw}}}`,
          });
        const read = await post('query ($id: ID!) { user(id: $id) { id } }');
        expect([id.slice(0, 10), read.status, read.body]).toEqual([
          id.slice(0, 10),
          200,
          { data: { user: null } },
        ]);
        await refused(
          id.slice(0, 10),
          () => post('mutation ($id: ID!) { updateUser(id: $id, input: { name: "x" }) { id } }'),
          (res) => expect(res.body.errors?.[0].extensions?.code).toBe('NOT_FOUND'),
        );
        const history = await post('query ($id: ID!) { userChanges(userId: $id) { nodes { id } } }');
        expect(history.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
      }
    });

    it('huge numbers where an Int belongs are refused', async () => {
      for (const n of ['1e400', '123456789012345678901234567890', '2147483648', '1.5']) {
        await refused(
          n,
          () =>
            send(app.url, 'POST', '/graphql', {
              headers: { ...bearer(admin.pat), 'content-type': 'application/json' },
              raw: `{"query":"query ($n: Int!) { userByNumericId(numericId: $n) { id } }","variables":{"n":${n}}}`,
            }),
          expectGraphqlRefusal,
        );
      }
    });

    it('a deeply nested body is refused', async () => {
      for (const raw of [
        `${'['.repeat(10000)}${']'.repeat(10000)}`,
        `{"query":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
        `{"query":"mutation ($v: JSON) { updateMe(input: {}) { id } }","variables":{"v":${'['.repeat(20000)}${']'.repeat(20000)}}}`,
      ]) {
        for (const key of [{}, { 'idempotency-key': `nested-${raw.length}` }] as Record<string, string>[]) {
          await refused(
            'nested',
            () =>
              send(app.url, 'POST', '/graphql', {
                headers: { ...bearer(admin.pat), 'content-type': 'application/json', ...key },
                raw,
              }),
            (res) =>
              expect([res.status, res.body.errors?.[0].extensions?.code]).toEqual([400, 'BAD_REQUEST']),
          );
        }
      }
    });
  });

  describe('REST endpoints', () => {
    /** The text fields of each endpoint, in its spelling. */
    const textFields: Record<string, string[]> = {
      '000': ['name'],
      '001': ['name'],
      '002': ['username', 'first_name', 'last_name'],
      '003': ['name', 'jobTitle', 'companyName', 'timezone'],
      '004': ['name'],
    };

    it.each(TEXT)('%s in any text field of any endpoint is refused', async (what, raw) => {
      for (const [id, fields] of Object.entries(textFields)) {
        for (const field of fields) {
          // 000 requires name; the others get the hostile field alone.
          await refused(
            `${id} ${field}: ${what}`,
            () => rest(target(id), `{"${field}":${raw}}`),
            expectRest(target(id)),
          );
        }
      }
    });

    it.each(EMAILS)('an email with %s is refused by 002 and 004', async (what, raw) => {
      for (const id of ['002', '004']) {
        await refused(`${id}: ${what}`, () => rest(target(id), `{"email":${raw}}`), expectRest(target(id)));
      }
    });

    it.each(METADATA)('metadata with %s is refused by 004', async (what, raw) => {
      await refused(what, () => rest(target('004'), `{"metadata":${raw}}`), expectRest(target('004')));
    });

    it('prototype-named metadata keys with scalar values stay plain own keys and pollute nothing', async () => {
      const t = target('004');
      const res = await rest(t, `{"metadata":{${PROTOTYPE_KEYS.map((k) => `"${k}":"v"`).join(',')}}}`);
      expect(res.status).toBe(200);
      expect(Object.getOwnPropertyDescriptor(res.body.metadata, '__proto__')?.value).toBe('v');
      const stored = await app.stored(app.world.member.id);
      for (const key of PROTOTYPE_KEYS)
        expect(Object.getOwnPropertyDescriptor(stored.metadata, key)?.value).toBe('v');
      expect(appGlobals.Object.prototype).not.toHaveProperty('polluted');
      expect((appGlobals.Object() as Record<string, unknown>).v).toBeUndefined();
      const cleared = await rest(t, `{"metadata":{${PROTOTYPE_KEYS.map((k) => `"${k}":null`).join(',')}}}`);
      expect(cleared.status).toBe(200);
      expect(Object.keys((await app.stored(app.world.member.id)).metadata)).toEqual([]);
    });

    it.each(TEXT)(
      'experiments with %s as an item, or as the whole value, is refused by 003',
      async (what, raw) => {
        await refused(what, () => rest(target('003'), `{"experiments":[${raw}]}`), expectRest(target('003')));
        if (!raw.startsWith('[')) {
          await refused(what, () => rest(target('003'), `{"experiments":${raw}}`), expectRest(target('003')));
        }
      },
    );

    it('__proto__, constructor and buried bodies are refused by every endpoint', async () => {
      for (const t of targets) {
        for (const [what, raw] of BODIES(t.valid)) {
          for (const type of ['application/json', 'application/merge-patch+json']) {
            if (type !== 'application/json' && (t.id === '000' || t.id === '003')) continue;
            await refused(
              `${t.id}: ${what} (${type})`,
              () => rest(t, raw, { 'content-type': type }),
              expectRest(t),
            );
          }
          // With an Idempotency-Key too, whose fingerprint is worked out from the body.
          await refused(
            `${t.id}: ${what} (Idempotency-Key)`,
            () => rest(t, raw, { 'idempotency-key': `hostile-${t.id}-${what}` }),
            expectRest(t),
          );
        }
      }
    });

    it('huge or odd numeric ids on 003 are a 400, never a 500', async () => {
      const t = target('003');
      for (const id of [
        '99999999999999999999',
        '1e400',
        '-1',
        '1.5',
        '0x10',
        '%00',
        '%ED%A0%80',
        '%F0%9F%92%A9',
        'NaN',
      ]) {
        const path = `/v1/api/users/${id}`;
        await refused(
          id,
          () => send(app.url, 'POST', path, { headers: t.headers, json: t.valid }),
          (res) => {
            expect([id, res.status]).toEqual([id, 400]);
            expectErrorShape('003', res, 400);
          },
        );
      }
    });

    it('odd ids on 002 and 004 are a 404 (or 400), never a 500', async () => {
      for (const id of ['002', '004']) {
        const t = target(id);
        for (const userId of [
          '%00',
          '%ED%A0%80',
          'x'.repeat(KB10),
          '..%2F..%2Fetc%2Fpasswd',
          '%F0%9F%92%A9',
        ]) {
          const path = t.path.replace(app.world.member.id, userId);
          const res = await send(app.url, t.method, path, { headers: t.headers, json: t.valid });
          expect([id, userId.slice(0, 20), [400, 404].includes(res.status)]).toEqual([
            id,
            userId.slice(0, 20),
            true,
          ]);
          expectErrorShape(t.id, res, res.status);
        }
      }
    });
  });

  describe('bodies over BODY_LIMIT_BYTES are 413', () => {
    const big = 'x'.repeat(70 * 1024);

    it('on /graphql', async () => {
      expect(app.server.config.bodyLimitBytes).toBe(64 * 1024);
      const before = await snapshot();
      const res = await send(app.url, 'POST', '/graphql', {
        headers: bearer(admin.pat),
        json: {
          query: 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id } }',
          variables: { input: { name: big } },
        },
      });
      expect(res.status).toBe(413);
      expect(res.body.errors?.[0].message).toMatch(/larger than/);
      expect(await snapshot()).toEqual(before);
    });

    it('on every REST endpoint, in its error shape', async () => {
      const before = await snapshot();
      for (const t of targets) {
        const res = await send(app.url, t.method, t.path, {
          headers: t.headers,
          json: { [t.textField]: big },
        });
        expectErrorShape(t.id, res, 413);
      }
      expect(await snapshot()).toEqual(before);
    });
  });
});

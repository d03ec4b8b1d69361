import fs from 'node:fs';
import path from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import { Role } from '../../src/entities/enums';
import { USER_FIELDS, bearer, gql, useApp } from '../support/harness';

const USERS = `query ($first: Int, $after: String) {
  users(first: $first, after: $after) { edges { cursor node { id organization { id } } } nodes { id } pageInfo { hasNextPage endCursor } } }`;

describe('queries', () => {
  const app = useApp({ world: true });

  const users = (variables: Record<string, unknown>, token = app.world.adminToken) =>
    gql(app.url, USERS, variables, bearer(token));

  it('me returns the caller with every field', async () => {
    const res = await gql(app.url, `{ me { ${USER_FIELDS} } }`, {}, bearer(app.world.memberToken));
    expect(res.body.errors).toBeUndefined();
    const stored = await app.stored(app.world.member.id);
    expect(res.body.data.me).toMatchObject({
      id: app.world.member.id,
      numericId: stored.numericId,
      uuid: stored.uuid,
      email: stored.email,
      name: 'Max Member',
      role: 'MEMBER',
      status: 'ACTIVE',
      creditsBalance: 0,
      experiments: [],
      metadata: {},
      version: stored.version,
      organization: { id: app.world.orgId, name: 'Acme' },
    });
    expect(res.body.data.me.id).toMatch(/^usr_[A-Za-z0-9_-]{16,}$/);
    expect(res.body.data.me.uuid).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('user(id) returns a user of the same organization, to any member', async () => {
    for (const token of [app.world.adminToken, app.world.memberToken, app.world.viewerToken]) {
      const res = await gql(
        app.url,
        'query ($id: ID!) { user(id: $id) { id name } }',
        { id: app.world.admin.id },
        bearer(token),
      );
      expect(res.body.data.user).toEqual({ id: app.world.admin.id, name: 'Ada Admin' });
    }
  });

  it('user(id) returns null for another organization and for a missing id alike', async () => {
    const query = 'query ($id: ID!) { user(id: $id) { id } }';
    const foreign = await gql(app.url, query, { id: app.world.outsider.id }, bearer(app.world.adminToken));
    const missing = await gql(
      app.url,
      query,
      { id: 'usr_doesnotexist0000000' },
      bearer(app.world.adminToken),
    );
    expect(foreign.body).toEqual({ data: { user: null } });
    expect(missing.body).toEqual({ data: { user: null } });
  });

  describe('users', () => {
    let orgId: string;
    let adminToken: string;
    let memberToken: string;
    let ids: string[];

    beforeAll(async () => {
      orgId = await app.fixtures.org('Paged');
      const admin = await app.fixtures.user(orgId, { role: Role.ADMIN });
      const created = [admin];
      for (let i = 0; i < 6; i++) {
        created.push(await app.fixtures.user(orgId));
        // Interleave users of another organization: they must never show up.
        await app.fixtures.user(app.world.otherOrgId);
      }
      ids = created.map((u) => u.id);
      adminToken = (await app.fixtures.token(admin.id)).token;
      memberToken = (await app.fixtures.token(created[1].id)).token;
    });

    it('paginates with cursors over the organization only, oldest first', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      const pages: number[] = [];
      for (;;) {
        const res = await users({ first: 3, after }, adminToken);
        expect(res.body.errors).toBeUndefined();
        const page = res.body.data.users;
        expect(page.nodes.map((n: any) => n.id)).toEqual(page.edges.map((e: any) => e.node.id));
        for (const edge of page.edges) expect(edge.node.organization.id).toBe(orgId);
        seen.push(...page.nodes.map((n: any) => n.id));
        pages.push(page.nodes.length);
        expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(pages).toEqual([3, 3, 1]);
      expect(seen).toEqual(ids);
    });

    it('resumes after any edge cursor', async () => {
      const first = await users({ first: 7 }, adminToken);
      const cursor = first.body.data.users.edges[1].cursor;
      const rest = await users({ first: 2, after: cursor }, adminToken);
      expect(rest.body.data.users.nodes.map((n: any) => n.id)).toEqual(ids.slice(2, 4));
      expect(rest.body.data.users.pageInfo.hasNextPage).toBe(true);
    });

    it('an exhausted page is empty with no next page', async () => {
      const all = await users({ first: 100 }, adminToken);
      expect(all.body.data.users.nodes).toHaveLength(7);
      const after = all.body.data.users.pageInfo.endCursor;
      const empty = await users({ first: 5, after }, adminToken);
      expect(empty.body.data.users).toEqual({
        edges: [],
        nodes: [],
        pageInfo: { hasNextPage: false, endCursor: null },
      });
    });

    it('is for admins only: a member and a viewer get FORBIDDEN', async () => {
      expect((await users({ first: 2 }, memberToken)).body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await users({ first: 2 }, app.world.viewerToken)).body.errors?.[0].extensions?.code).toBe(
        'FORBIDDEN',
      );
    });

    it.each([
      ['garbage'],
      [Buffer.from('user:abc').toString('base64url')],
      [Buffer.from('org:1').toString('base64url')],
    ])('a bad cursor (%s) is BAD_USER_INPUT', async (after) => {
      const res = await users({ first: 2, after }, adminToken);
      expect(res.body.errors?.[0].extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        fields: [{ field: 'after', message: expect.any(String) }],
      });
    });

    it.each([[0], [-1], [101]])('first = %i is BAD_USER_INPUT', async (first) => {
      const res = await users({ first }, adminToken);
      expect(res.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    });
  });

  describe('no secret in the schema', () => {
    // Ids of credentials (for audit) are fine; the secrets and their hashes are not.
    const SECRET = /secret|hash|password|token|privatekey/i;
    // What an email link carries, sent in by its holder: an input, never something the API reads out.
    // A webhook endpoint's signing secret is shown to its admins once, when made or rotated: the answer
    // types that carry it are these, and nothing else.
    const ALLOWED = [
      'Mutation.confirmEmailChange(token)',
      'Mutation.cancelEmailChange(token)',
      'Mutation.rotateWebhookSecret',
      'Mutation.rotateWebhookSecret(id)',
      'WebhookEndpointWithSecret',
      'WebhookEndpointWithSecret.endpoint',
      'WebhookEndpointWithSecret.secret',
      'WebhookEndpoint.previousSecretExpiresAt',
    ];

    it('introspection shows no secret type, field or argument', async () => {
      const res = await gql(app.url, getIntrospectionQuery(), {}, bearer(app.world.adminToken));
      expect(res.body.errors).toBeUndefined();
      const names: string[] = [];
      for (const type of res.body.data.__schema.types as any[]) {
        if (type.name.startsWith('__')) continue;
        names.push(type.name);
        for (const field of [...(type.fields ?? []), ...(type.inputFields ?? [])]) {
          names.push(`${type.name}.${field.name}`);
          for (const arg of field.args ?? []) names.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      expect(names).toContain('User.email');
      expect(names.filter((name) => SECRET.test(name) && !ALLOWED.includes(name))).toEqual([]);
    });

    it('the committed schema.graphql names no secret', () => {
      const sdl = fs.readFileSync(path.resolve(__dirname, '..', '..', 'schema.graphql'), 'utf8');
      expect(sdl).toMatch(/type User \{/);
      expect(sdl).not.toMatch(
        /secretHash|secret_hash|emailLower|usernameLower|TokenHash|token_hash|type Credential|type MailMessage/,
      );
    });
  });

  describe('GraphQL over HTTP with GET', () => {
    const get = (search: string, method = 'GET') =>
      fetch(`${app.url}/graphql?${search}`, {
        method,
        headers: {
          ...bearer(app.world.memberToken),
          accept: 'application/graphql-response+json',
          'apollo-require-preflight': 'true',
        },
      });
    const query = `query=${encodeURIComponent('{ me { id } }')}`;

    it('HEAD answers as GET does, without a body (RFC 9110 §9.3.2)', async () => {
      const asGet = await get(query);
      const head = await get(query, 'HEAD');
      expect({
        status: head.status,
        type: head.headers.get('content-type'),
        body: await head.text(),
      }).toEqual({
        status: asGet.status,
        type: asGet.headers.get('content-type'),
        body: '',
      });
      expect(asGet.status).toBe(200);
    });

    it('an optional parameter sent empty is as if it were not sent', async () => {
      for (const empty of ['variables=', 'extensions=', 'operationName=', 'variables=&operationName=']) {
        const res = await get(`${query}&${empty}`);
        expect({ empty, status: res.status, body: await res.json() }).toEqual({
          empty,
          status: 200,
          body: { data: { me: { id: app.world.member.id } } },
        });
      }
    });

    it('a mutation sent with GET gets 405 with Allow naming every method /graphql takes; OPTIONS answers them', async () => {
      const before = await app.stored(app.world.member.id);
      const res = await get(
        `query=${encodeURIComponent('mutation { updateMe(input: { name: "Z" }) { id } }')}`,
      );
      expect({ status: res.status, allow: res.headers.get('allow') }).toEqual({
        status: 405,
        allow: 'GET, HEAD, POST, OPTIONS',
      });
      expect(await app.stored(app.world.member.id)).toEqual(before);
      const options = await fetch(`${app.url}/graphql`, { method: 'OPTIONS' });
      expect({ status: options.status, allow: options.headers.get('allow') }).toEqual({
        status: 204,
        allow: 'GET, HEAD, POST, OPTIONS',
      });
    });
  });
});

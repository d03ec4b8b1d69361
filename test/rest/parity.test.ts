import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { USER_FIELDS, gql, useApp } from '../support/harness';
import { apiKeyHeader, bearer, jwtCookie, send } from './rest-support';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { ${USER_FIELDS} } }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { ${USER_FIELDS} } }`;

/** The stored fields a change can touch, without identity and timestamps. */
const profile = (u: User) => ({
  name: u.name,
  email: u.email.replace(/^[^@]*/, ''),
  username: u.username,
  firstName: u.firstName,
  lastName: u.lastName,
  role: u.role,
  jobTitle: u.jobTitle,
  companyName: u.companyName,
  experiments: u.experiments,
  projectsSortOrder: u.projectsSortOrder,
  timezone: u.timezone,
  metadata: u.metadata,
  version: u.version,
});

describe('parity: the same change through REST and through GraphQL', () => {
  let adminKey: string;

  const app = useApp({ world: true });

  beforeAll(async () => {
    adminKey = (await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY)).token;
  });

  const updateUser = (id: string, input: Record<string, unknown>, token = app.world.adminToken) =>
    gql(app.url, UPDATE_USER, { id, input }, bearer(token));

  const twins = async () => [
    await app.fixtures.user(app.world.orgId, { name: 'Twin' }),
    await app.fixtures.user(app.world.orgId, { name: 'Twin' }),
  ];

  it('002 and updateUser store the same result', async () => {
    const [viaRest, viaGraphql] = await twins();
    await send(app.url, 'PATCH', `/v1/users/${viaRest.id}`, {
      headers: bearer(adminKey),
      json: { first_name: 'Jane', last_name: null, role: 'viewer', email: `rest@x.example.com` },
    });
    const res = await updateUser(viaGraphql.id, {
      firstName: 'Jane',
      lastName: null,
      role: 'VIEWER',
      email: 'gql@x.example.com',
    });
    expect(res.body.errors).toBeUndefined();
    expect(profile(await app.stored(viaRest.id))).toEqual(profile(await app.stored(viaGraphql.id)));
  });

  it('003 and updateUser store the same result, enum spellings included', async () => {
    const [viaRest, viaGraphql] = await twins();
    const jwt = (await app.fixtures.token(app.world.admin.id, CredentialKind.JWT)).token;
    const common = { name: 'Twin', jobTitle: 'Eng', experiments: ['x'], timezone: 'europe/paris' };
    const rest = await send(app.url, 'POST', `/api/users/${viaRest.numericId}`, {
      headers: jwtCookie(jwt),
      json: { ...common, projectsSortOrder: 'added-desc' },
    });
    expect(rest.body).toEqual({ success: true });
    await updateUser(viaGraphql.id, { ...common, projectsSortOrder: 'ADDED_DESC' });
    expect(profile(await app.stored(viaRest.id))).toEqual(profile(await app.stored(viaGraphql.id)));
  });

  it('004 and updateUser merge metadata the same way', async () => {
    const [viaRest, viaGraphql] = await twins();
    for (const metadata of [
      { a: 1, b: 'two' },
      { a: null, c: true },
    ]) {
      const rest = await send(app.url, 'PATCH', `/api/v1/users/${viaRest.id}`, {
        headers: bearer(app.world.adminToken),
        json: { metadata, role: 'admin' },
      });
      expect(rest.status).toBe(200);
      expect((await updateUser(viaGraphql.id, { metadata, role: 'ADMIN' })).body.errors).toBeUndefined();
    }
    const stored = await app.stored(viaRest.id);
    expect(stored.metadata).toEqual({ b: 'two', c: true });
    expect(profile(stored)).toEqual(profile(await app.stored(viaGraphql.id)));
  });

  it('000, 001 and updateMe store the same name', async () => {
    const user = await app.fixtures.user(app.world.orgId);
    const pat = (await app.fixtures.token(user.id)).token;
    const key = (await app.fixtures.token(user.id, CredentialKind.API_KEY)).token;
    const put = await send(app.url, 'PUT', '/v2/user', { headers: bearer(pat), json: { name: 'Same Name' } });
    expect(put.status).toBe(200);
    const afterPut = await app.stored(user.id);
    expect(afterPut.name).toBe('Same Name');
    const patch = await send(app.url, 'PATCH', '/v1/users/me', {
      headers: apiKeyHeader(key),
      json: { name: 'Same Name' },
    });
    expect(patch.status).toBe(200);
    const graphql = await gql(app.url, UPDATE_ME, { input: { name: 'Same Name' } }, bearer(pat));
    expect(graphql.body.errors).toBeUndefined();
    expect(await app.stored(user.id)).toEqual(afterPut);
  });

  it('an invalid email meets the same refusal, with the same message, through 002, 004 and GraphQL', async () => {
    const before = await app.stored(app.world.member.id);
    const graphql = await updateUser(app.world.member.id, { email: 'not-an-email' });
    const [fieldError] = graphql.body.errors![0].extensions!.fields;
    const v002 = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      headers: bearer(adminKey),
      json: { email: 'not-an-email' },
    });
    const v004 = await send(app.url, 'PATCH', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
      json: { email: 'not-an-email' },
    });
    expect(v002.body.details).toEqual({ email: [fieldError.message] });
    expect(v004.body.errors).toEqual([fieldError]);
    expect(await app.stored(app.world.member.id)).toEqual(before);
  });

  it('a member changing another user meets FORBIDDEN through GraphQL and 403 through REST', async () => {
    const memberKey = (await app.fixtures.token(app.world.member.id, CredentialKind.API_KEY)).token;
    const before = await app.stored(app.world.viewer.id);
    const graphql = await updateUser(app.world.viewer.id, { firstName: 'X' }, app.world.memberToken);
    const rest = await send(app.url, 'PATCH', `/v1/users/${app.world.viewer.id}`, {
      headers: bearer(memberKey),
      json: { first_name: 'X' },
    });
    expect(graphql.body.errors![0].extensions!.code).toBe('FORBIDDEN');
    expect(rest.status).toBe(403);
    expect(rest.body.message).toBe(graphql.body.errors![0].message);
    expect(await app.stored(app.world.viewer.id)).toEqual(before);
  });

  it('a taken email meets CONFLICT through GraphQL and 409 through REST', async () => {
    const graphql = await updateUser(app.world.member.id, { email: app.world.viewer.email });
    const rest = await send(app.url, 'PATCH', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
      json: { email: app.world.viewer.email },
    });
    expect(graphql.body.errors![0].extensions).toMatchObject({ code: 'CONFLICT', field: 'email' });
    expect(rest.status).toBe(409);
    expect(rest.body.errors).toEqual([{ field: 'email', message: graphql.body.errors![0].message }]);
  });
});

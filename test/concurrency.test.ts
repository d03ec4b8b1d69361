import type { User } from '../src/entities/user.entity';
import { GqlResponse, bearer, gql, useApp, useOrgAdmin } from './support/harness';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id jobTitle firstName lastName metadata email version } }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id jobTitle email version } }`;

describe('concurrency', () => {
  const app = useApp();
  const org = useOrgAdmin(app, 'Busy');

  const updateUser = (id: string, input: Record<string, unknown>, token = org.adminToken) =>
    gql(app.url, UPDATE_USER, { id, input }, bearer(token));
  const updateMe = (input: Record<string, unknown>, token: string) =>
    gql(app.url, UPDATE_ME, { input }, bearer(token));

  const errorsOf = (responses: GqlResponse[]) => responses.flatMap((res) => res.body.errors ?? []);

  it('200 concurrent mutations on 200 different users: no errors, every change stored', async () => {
    const users: User[] = await Promise.all(Array.from({ length: 200 }, () => app.fixtures.user(org.orgId)));
    const tokens = await Promise.all(
      users.slice(100).map(async (u) => (await app.fixtures.token(u.id)).token),
    );
    const responses = await Promise.all(
      users.map((user, i) =>
        i < 100
          ? updateUser(user.id, { jobTitle: `title-${i}` })
          : updateMe({ jobTitle: `title-${i}` }, tokens[i - 100]),
      ),
    );
    expect(errorsOf(responses)).toEqual([]);
    responses.forEach((res, i) => {
      expect(res.status).toBe(200);
      expect(res.body.data[i < 100 ? 'updateUser' : 'updateMe']).toMatchObject({
        jobTitle: `title-${i}`,
        version: 2,
      });
    });
    const stored = await Promise.all(users.map((u) => app.stored(u.id)));
    stored.forEach((row, i) => expect(row).toMatchObject({ jobTitle: `title-${i}`, version: 2 }));
  });

  it('200 concurrent mutations on one user: no errors, version grows by exactly 200', async () => {
    const user = await app.fixtures.user(org.orgId);
    const token = (await app.fixtures.token(user.id)).token;
    const before = await app.stored(user.id);
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2 === 0
          ? updateMe({ jobTitle: `same-${i}` }, token)
          : updateUser(user.id, { jobTitle: `same-${i}` }),
      ),
    );
    expect(errorsOf(responses)).toEqual([]);
    const versions = responses.map((res) => (res.body.data.updateMe ?? res.body.data.updateUser).version);
    // Every acknowledged change got its own version: none was lost or merged.
    expect(new Set(versions).size).toBe(200);
    expect(Math.min(...versions)).toBe(before.version + 1);
    const after = await app.stored(user.id);
    expect(after.version).toBe(before.version + 200);
    expect(Math.max(...versions)).toBe(after.version);
    // The last acknowledged write is the one stored.
    const last = responses.find(
      (res) => (res.body.data.updateMe ?? res.body.data.updateUser).version === after.version,
    );
    expect(after.jobTitle).toBe((last!.body.data.updateMe ?? last!.body.data.updateUser).jobTitle);
  });

  it('two concurrent writers changing different fields of one user both land', async () => {
    for (let round = 0; round < 10; round++) {
      const user = await app.fixtures.user(org.orgId);
      const token = (await app.fixtures.token(user.id)).token;
      const [a, b, c] = await Promise.all([
        updateUser(user.id, { firstName: `First ${round}` }),
        updateMe({ jobTitle: `Job ${round}` }, token),
        updateUser(user.id, { metadata: { round } }),
      ]);
      expect(errorsOf([a, b, c])).toEqual([]);
      expect(await app.stored(user.id)).toMatchObject({
        firstName: `First ${round}`,
        jobTitle: `Job ${round}`,
        metadata: { round },
        version: 4,
      });
    }
  });

  it('concurrent metadata additions all land or are refused, never lost, never more than 16 keys', async () => {
    const user = await app.fixtures.user(org.orgId);
    await updateUser(user.id, { metadata: { existing: 1 } });
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => updateUser(user.id, { metadata: { [`key${i}`]: i } })),
    );
    const accepted: string[] = [];
    responses.forEach((res, i) => {
      if (res.body.errors) {
        expect(res.body.errors[0].extensions?.code).toBe('BAD_USER_INPUT');
        expect(res.body.errors[0].extensions?.fields?.[0]?.field).toBe('metadata');
      } else {
        accepted.push(`key${i}`);
      }
    });
    expect(accepted).toHaveLength(15);
    const stored = (await app.stored(user.id)).metadata;
    expect(Object.keys(stored).sort()).toEqual(['existing', ...accepted].sort());
    expect(Object.keys(stored).length).toBeLessThanOrEqual(16);
  });

  it('20 concurrent attempts to give one email to users of one organization: exactly one succeeds', async () => {
    // An admin's change applies at once (users' own wait for confirmation: test/email/email-change.test.ts).
    const contenders: Array<{ user: User }> = [];
    for (let i = 0; i < 20; i++) contenders.push({ user: await app.fixtures.user(org.orgId) });
    const responses = await Promise.all(
      contenders.map(({ user }, i) =>
        updateUser(user.id, { email: i % 2 ? 'Wanted@Example.com' : 'wanted@example.COM' }),
      ),
    );
    const winners = responses.filter((res) => !res.body.errors);
    const losers = responses.filter((res) => res.body.errors);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(19);
    for (const res of losers) {
      expect(res.body.errors?.[0]).toMatchObject({
        message: 'Email already taken',
        extensions: { code: 'CONFLICT', field: 'email' },
      });
    }
    const stored = await Promise.all(contenders.map(({ user }) => app.stored(user.id)));
    expect(stored.filter((row) => row.emailLower === 'wanted@example.com')).toHaveLength(1);
  });
});

import { hashSecret } from '../../src/auth/secrets';
import { CredentialKind } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { usingPostgres } from '../support/database';
import { useApp } from '../support/harness';

/**
 * Reads by one key (a credential by its secret, a user by its id) made in the same loop turn go to the
 * database as one statement per kind of read. Each caller must still get exactly its own row.
 */
describe('keyed reads made together', () => {
  let members: User[];
  let tokens: Array<{ id: string; token: string }>;
  let statements: string[];

  const app = useApp();

  beforeAll(async () => {
    const orgId = await app.fixtures.org('Keyed');
    const otherOrgId = await app.fixtures.org('Keyed elsewhere');
    members = [];
    for (let i = 0; i < 4; i++) members.push(await app.fixtures.user(i === 3 ? otherOrgId : orgId));
    tokens = [];
    for (const member of members) tokens.push(await app.fixtures.token(member.id, CredentialKind.API_KEY));
  });
  afterAll(async () => {
    jest.restoreAllMocks();
  });
  beforeEach(() => {
    // Each adapter sends every statement through one private method: `query` (PostgreSQL), `read` (SQLite).
    const adapter = app.server.services.db.users as unknown as Record<
      string,
      (sql: string, ...rest: unknown[]) => Promise<unknown>
    >;
    const method = usingPostgres ? 'query' : 'read';
    statements = [];
    const send = adapter[method].bind(adapter);
    jest.spyOn(adapter, method).mockImplementation((sql, ...rest) => {
      // Only keyed reads (they select their key as "k"): the webhook sender's statements go through the
      // same method on a timer of their own.
      if (sql.includes(' AS "k"')) statements.push(sql);
      return send(sql, ...rest);
    });
  });
  afterEach(() => jest.restoreAllMocks());

  const essentials = (user: User | null) =>
    user && { id: user.id, numericId: user.numericId, email: user.email, organization: user.organization.id };

  it('users by id: one statement, each caller its own row, unknown ids none, a key asked twice answered twice', async () => {
    const ids = [members[2].id, 'usr_missing', members[0].id, `usr_"quoted'`, members[3].id, members[0].id];
    const found = await Promise.all(ids.map((id) => app.server.services.db.users.userById(id)));
    expect(statements).toHaveLength(1);
    expect(found.map(essentials)).toEqual([
      essentials(members[2]),
      null,
      essentials(members[0]),
      null,
      essentials(members[3]),
      essentials(members[0]),
    ]);
    expect(found[0]!.organization.name).toBe('Keyed');
    expect(found[4]!.organization.name).toBe('Keyed elsewhere');
  });

  it('users by numeric id, credentials by secret and by id: one statement per kind', async () => {
    const [byNumber, bySecret, byId] = await Promise.all([
      Promise.all(
        [members[1].numericId, 999_999, members[3].numericId].map((n) =>
          app.server.services.db.users.userByNumericId(n),
        ),
      ),
      Promise.all(
        [tokens[3].token, 'not-a-secret', tokens[0].token].map((token) =>
          app.server.services.db.users.credentialBySecretHash(hashSecret(token)),
        ),
      ),
      Promise.all([tokens[2].id, tokens[1].id].map((id) => app.server.services.db.users.credentialById(id))),
    ]);
    expect(statements).toHaveLength(3);
    expect(byNumber.map(essentials)).toEqual([essentials(members[1]), null, essentials(members[3])]);
    expect(bySecret.map((credential) => credential && [credential.id, credential.user.id])).toEqual([
      [tokens[3].id, members[3].id],
      null,
      [tokens[0].id, members[0].id],
    ]);
    expect(byId.map((credential) => credential && [credential.id, credential.user.email])).toEqual([
      [tokens[2].id, members[2].email],
      [tokens[1].id, members[1].email],
    ]);
  });

  it('reads made in different turns go separately', async () => {
    const first = await app.server.services.db.users.userById(members[0].id);
    const second = await app.server.services.db.users.userById(members[1].id);
    expect(statements).toHaveLength(2);
    expect([first, second].map(essentials)).toEqual([essentials(members[0]), essentials(members[1])]);
  });
});

import { Role } from '../../src/entities/enums';
import type { User } from '../../src/entities/user.entity';
import { bearer, useApp, useOrgAdmin } from '../support/harness';

const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id jobTitle companyName metadata version } }`;

/** Text that SQL text built from values would mangle: quotes, comments, placeholders, escapes. */
const AWKWARD = [
  "O'Brien",
  "''",
  "'; DROP TABLE users; --",
  '-- not a comment',
  '/* not a comment */',
  '?1',
  '?',
  '$1',
  '$2::text',
  ':name',
  '@p1',
  'back\\slash \\n \\0 \\\\',
  'x -?1',
  '"double" `tick`',
  '😀 ünïcödé 𝔘',
  'a'.repeat(190),
];

/** Numbers at the edge of what JSON and both databases keep exactly. */
const NUMBERS = [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -5, 0, 0.1, 1e-7, 2 ** 31, -(2 ** 31) - 1];

describe('every value reaches the database bound, and comes back byte for byte', () => {
  const app = useApp();
  const org = useOrgAdmin(app, 'Bound');
  let users: User[];

  beforeAll(async () => {
    users = await Promise.all(
      Array.from({ length: 40 }, () => app.fixtures.user(org.orgId, { role: Role.MEMBER })),
    );
  });

  it('200 concurrent writers store awkward text, edge numbers and odd metadata keys exactly', async () => {
    const writes = Array.from({ length: 200 }, (_, n) => {
      const text = `${AWKWARD[n % AWKWARD.length]}#${n}`;
      const metadata: Record<string, string | number | boolean> = {
        [AWKWARD[(n + 3) % AWKWARD.length].slice(0, 30) || 'k']: NUMBERS[n % NUMBERS.length],
        'key\'with"quotes': text.slice(0, 100),
        $1: n % 2 === 0,
      };
      return {
        user: users[n % users.length],
        input: { jobTitle: text, companyName: text.slice(0, 50), metadata },
      };
    });
    const answers = await Promise.all(
      writes.map((w) => app.gql(UPDATE_USER, { id: w.user.id, input: w.input }, bearer(org.adminToken))),
    );
    for (const [n, answer] of answers.entries()) {
      expect({ n, errors: answer.body.errors ?? null }).toEqual({ n, errors: null });
    }
    // Each user's last acknowledged write (the highest version) is what is stored, exactly.
    const last = new Map<string, { version: number; input: (typeof writes)[number]['input'] }>();
    for (const [n, answer] of answers.entries()) {
      const { id, version } = answer.body.data.updateUser;
      const seen = last.get(id);
      if (!seen || seen.version < version) last.set(id, { version, input: writes[n].input });
    }
    for (const user of users) {
      const stored = await app.stored(user.id);
      const expected = last.get(user.id)!;
      expect(stored.version).toBe(expected.version);
      expect(stored.jobTitle).toBe(expected.input.jobTitle);
      expect(stored.companyName).toBe(expected.input.companyName);
      // Metadata merges per key: every key of the last write has its value.
      for (const [key, value] of Object.entries(expected.input.metadata)) {
        expect({ key, value: stored.metadata[key] }).toEqual({ key, value });
      }
    }
  });

  it('a NUL or an unpaired surrogate is refused with the field named, and nothing is written', async () => {
    const target = users[0];
    const before = await app.stored(target.id);
    for (const jobTitle of ['nul\u0000inside', 'lone \ud800 surrogate', 'lone \udc00 low']) {
      const answer = await app.gql(
        UPDATE_USER,
        { id: target.id, input: { jobTitle } },
        bearer(org.adminToken),
      );
      expect(answer.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(answer.body.errors?.[0].extensions?.fields)).toContain('jobTitle');
    }
    expect(await app.stored(target.id)).toEqual(before);
  });
});

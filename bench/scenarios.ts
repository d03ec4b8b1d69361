import { type Fixtures, type MemberFixture, userIdOf } from './fixtures';

/** One HTTP request as autocannon sends it. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export type ScenarioName =
  | 'baseline'
  | 'graphql updateUser'
  | 'graphql me'
  | 'rest 000 PUT /v2/user'
  | 'rest 001 PATCH /v1/users/me'
  | 'rest 002 PATCH /v1/users/{id}'
  | 'rest 003 POST /v1/api/users/{n}'
  | 'rest 004 PATCH /api/v1/users/{id}';

/** A load pattern: how request `n` of a run looks, and whether a 2xx answer really succeeded. */
export interface Scenario {
  name: ScenarioName;
  /** Which process it runs against. */
  target: 'baseline' | 'server';
  kind: 'baseline' | 'graphql' | 'rest';
  /** Uses the members' own credentials (rotating), rather than the admin's token or none. */
  perMember: boolean;
  /**
   * Request number `n` of a run. `tag` is unique per run so a value is never the one already stored:
   * every update really writes (a no-op update would skip the write and flatter the figures).
   */
  request(n: number, fixtures: Fixtures, tag: string): RequestSpec;
  /** Called for 2xx bodies: a GraphQL answer with `errors` is a failure even with HTTP 200. */
  succeeded(body: string): boolean;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

const UPDATE_USER = `mutation UpdateUser($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id name jobTitle version updatedAt }
}`;
const ME = '{ me { id name email version updatedAt } }';

function parse(body: string): any {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

function graphqlSucceeded(body: string): boolean {
  const parsed = parse(body);
  return Boolean(parsed && parsed.data && !parsed.errors);
}

/** The documented user bodies of 000, 001, 002 and 004 all carry `id`; their error bodies do not. */
function restSucceeded(body: string): boolean {
  const parsed = parse(body);
  return Boolean(parsed && parsed.id !== undefined && !parsed.error && !parsed.errors);
}

/** Members rotate, so consecutive requests write different rows with different credentials. */
function member(fixtures: Fixtures, n: number): MemberFixture {
  return fixtures.members[n % fixtures.members.length];
}

/**
 * Every member once per round, in an order scattered over the table (`stride` is coprime with the
 * count), as real traffic would be, instead of walking neighbouring rows that share cached pages.
 */
function anyMemberId(fixtures: Fixtures, n: number): string {
  const count = fixtures.userCount;
  return userIdOf(fixtures.nonce, 1 + (((n % count) * fixtures.stride) % count));
}

function bearer(token: string): Record<string, string> {
  return { ...JSON_HEADERS, authorization: `Bearer ${token}` };
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'baseline',
    target: 'baseline',
    kind: 'baseline',
    perMember: false,
    request: (n, f, tag) => ({
      method: 'POST',
      path: `/users/${anyMemberId(f, n)}`,
      headers: JSON_HEADERS,
      body: JSON.stringify({ name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` }),
    }),
    succeeded: (body) => Boolean(parse(body)?.id),
  },
  {
    name: 'graphql updateUser',
    target: 'server',
    kind: 'graphql',
    perMember: false,
    request: (n, f, tag) => ({
      method: 'POST',
      path: '/graphql',
      headers: bearer(f.adminPat),
      body: JSON.stringify({
        query: UPDATE_USER,
        variables: { id: anyMemberId(f, n), input: { name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` } },
      }),
    }),
    succeeded: graphqlSucceeded,
  },
  {
    name: 'graphql me',
    target: 'server',
    kind: 'graphql',
    perMember: true,
    request: (n, f) => ({
      method: 'POST',
      path: '/graphql',
      headers: bearer(member(f, n).pat),
      body: JSON.stringify({ query: ME }),
    }),
    succeeded: graphqlSucceeded,
  },
  {
    name: 'rest 000 PUT /v2/user',
    target: 'server',
    kind: 'rest',
    perMember: true,
    request: (n, f, tag) => ({
      method: 'PUT',
      path: '/v2/user',
      headers: bearer(member(f, n).pat),
      body: JSON.stringify({ name: `Bench ${tag} ${n}` }),
    }),
    succeeded: restSucceeded,
  },
  {
    name: 'rest 001 PATCH /v1/users/me',
    target: 'server',
    kind: 'rest',
    perMember: true,
    request: (n, f, tag) => ({
      method: 'PATCH',
      path: '/v1/users/me',
      headers: { ...JSON_HEADERS, 'x-api-key': member(f, n).apiKey },
      body: JSON.stringify({ name: `Bench ${tag} ${n}` }),
    }),
    succeeded: restSucceeded,
  },
  {
    name: 'rest 002 PATCH /v1/users/{id}',
    target: 'server',
    kind: 'rest',
    perMember: true,
    request: (n, f, tag) => {
      const m = member(f, n);
      return {
        method: 'PATCH',
        path: `/v1/users/${m.id}`,
        headers: bearer(m.writeToken),
        body: JSON.stringify({ first_name: `First ${tag} ${n}`, last_name: `Last ${n}` }),
      };
    },
    succeeded: restSucceeded,
  },
  {
    name: 'rest 003 POST /v1/api/users/{n}',
    target: 'server',
    kind: 'rest',
    perMember: true,
    request: (n, f, tag) => {
      const m = member(f, n);
      return {
        method: 'POST',
        path: `/v1/api/users/${m.numericId}`,
        headers: { ...JSON_HEADERS, 'x-jwt-token': m.jwt },
        body: JSON.stringify({ name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` }),
      };
    },
    // GenericApiResponse: HTTP 200 with `success: false` is a failure.
    succeeded: (body) => parse(body)?.success === true,
  },
  {
    name: 'rest 004 PATCH /api/v1/users/{id}',
    target: 'server',
    kind: 'rest',
    perMember: true,
    request: (n, f, tag) => {
      const m = member(f, n);
      return {
        method: 'PATCH',
        path: `/api/v1/users/${m.id}`,
        headers: bearer(m.bearer),
        body: JSON.stringify({ name: `Bench ${tag} ${n}` }),
      };
    },
    succeeded: restSucceeded,
  },
];

export function scenario(name: ScenarioName): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`unknown scenario ${name}`);
  return found;
}

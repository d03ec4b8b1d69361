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
  | 'postgraphile updateUser'
  | 'graphql updateUser'
  | 'baseline hot row'
  | 'postgraphile updateUser hot row'
  | 'graphql updateUser hot row'
  | 'graphql me'
  | 'rest 000 PUT /v2/user'
  | 'rest 001 PATCH /v1/users/me'
  | 'rest 002 PATCH /v1/users/{id}'
  | 'rest 003 POST /v1/api/users/{n}'
  | 'rest 004 PATCH /api/v1/users/{id}';

/** A load pattern: how request `n` of a run looks, and whether a 2xx answer really succeeded. */
export interface Scenario {
  name: ScenarioName;
  /** Which process it runs against; the PostGraphile peer only on PostgreSQL. */
  target: 'baseline' | 'peer' | 'server';
  kind: 'baseline' | 'peer' | 'graphql' | 'rest';
  /** Every request updates the same member (compared with `baseline hot row`). */
  hotRow: boolean;
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
/**
 * PostGraphile's generated update by primary key (`numeric_id`): with simplified inflection the users
 * table's `id` column is `rowId` (`id` is the Node ID), so `rowId` selects what our `id` answers.
 */
const PEER_UPDATE_USER = `mutation UpdateUser($numericId: Int!, $patch: UserPatch!) {
  updateUser(input: { numericId: $numericId, patch: $patch }) { user { rowId name jobTitle version updatedAt } }
}`;

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
function anyMemberIndex(fixtures: Fixtures, n: number): number {
  const count = fixtures.userCount;
  return 1 + (((n % count) * fixtures.stride) % count);
}

function anyMemberId(fixtures: Fixtures, n: number): string {
  return userIdOf(fixtures.nonce, anyMemberIndex(fixtures, n));
}

/** The one member every hot-row request updates. */
const HOT_MEMBER = 1;

/** The seed gives user `index` the `numeric_id` index + 1 (the admin, index 0, is 1). */
const numericIdOf = (index: number) => index + 1;

function bearer(token: string): Record<string, string> {
  return { ...JSON_HEADERS, authorization: `Bearer ${token}` };
}

function baselineUpdate(id: string, n: number, tag: string): RequestSpec {
  return {
    method: 'POST',
    path: `/users/${id}`,
    headers: JSON_HEADERS,
    body: JSON.stringify({ name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` }),
  };
}

function peerUpdate(index: number, n: number, tag: string): RequestSpec {
  return {
    method: 'POST',
    path: '/graphql',
    headers: JSON_HEADERS,
    body: JSON.stringify({
      query: PEER_UPDATE_USER,
      variables: {
        numericId: numericIdOf(index),
        patch: { name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` },
      },
    }),
  };
}

/** A GraphQL `updateUser` by the admin (whose token may update any member). */
function serverUpdate(id: string, n: number, tag: string, f: Fixtures): RequestSpec {
  return {
    method: 'POST',
    path: '/graphql',
    headers: bearer(f.adminPat),
    body: JSON.stringify({
      query: UPDATE_USER,
      variables: { id, input: { name: `Bench ${tag} ${n}`, jobTitle: `Title ${n}` } },
    }),
  };
}

const baselineSucceeded = (body: string) => Boolean(parse(body)?.id);
/** PostGraphile answers `user: null` when no row matched, so the row must be there. */
const peerSucceeded = (body: string) => {
  const parsed = parse(body);
  return Boolean(parsed?.data?.updateUser?.user?.rowId && !parsed.errors);
};

/** In table order: each update pattern's baseline, peer and server measured next to each other. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'baseline',
    target: 'baseline',
    kind: 'baseline',
    hotRow: false,
    perMember: false,
    request: (n, f, tag) => baselineUpdate(anyMemberId(f, n), n, tag),
    succeeded: baselineSucceeded,
  },
  {
    name: 'postgraphile updateUser',
    target: 'peer',
    kind: 'peer',
    hotRow: false,
    perMember: false,
    request: (n, f, tag) => peerUpdate(anyMemberIndex(f, n), n, tag),
    succeeded: peerSucceeded,
  },
  {
    name: 'graphql updateUser',
    target: 'server',
    kind: 'graphql',
    hotRow: false,
    perMember: false,
    request: (n, f, tag) => serverUpdate(anyMemberId(f, n), n, tag, f),
    succeeded: graphqlSucceeded,
  },
  {
    name: 'baseline hot row',
    target: 'baseline',
    kind: 'baseline',
    hotRow: true,
    perMember: false,
    request: (n, f, tag) => baselineUpdate(userIdOf(f.nonce, HOT_MEMBER), n, tag),
    succeeded: baselineSucceeded,
  },
  {
    name: 'postgraphile updateUser hot row',
    target: 'peer',
    kind: 'peer',
    hotRow: true,
    perMember: false,
    request: (n, f, tag) => peerUpdate(HOT_MEMBER, n, tag),
    succeeded: peerSucceeded,
  },
  {
    name: 'graphql updateUser hot row',
    target: 'server',
    kind: 'graphql',
    hotRow: true,
    perMember: false,
    request: (n, f, tag) => serverUpdate(userIdOf(f.nonce, HOT_MEMBER), n, tag, f),
    succeeded: graphqlSucceeded,
  },
  {
    name: 'graphql me',
    target: 'server',
    kind: 'graphql',
    hotRow: false,
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
    hotRow: false,
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
    hotRow: false,
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
    hotRow: false,
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
    hotRow: false,
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
    hotRow: false,
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

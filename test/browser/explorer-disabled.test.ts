import { bearer, gql, useApp } from '../support/harness';

const DISABLED = /disabled by configuration/;

describe('with EXPLORER_ENABLED=false', () => {
  const app = useApp({ env: { EXPLORER_ENABLED: 'false' } });

  const get = (path: string, accept = 'text/html,application/xhtml+xml,*/*;q=0.8') =>
    fetch(`${app.url}${path}`, { headers: { accept }, redirect: 'manual' });

  it.each(['/graphql', '/graphiql', '/docs', '/explorer-assets/any-version/graphiql.js'])(
    'GET %s answers 404 saying the explorer is disabled by configuration',
    async (path) => {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toMatch(DISABLED);
    },
  );

  it('still answers JSON clients of /graphql', async () => {
    const { user, token } = await app.fixtures.orgWithUser();
    const res = await gql(app.url, '{ me { id } }', {}, bearer(token));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { me: { id: user.id } } });

    const apolloGet = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(apolloGet.status).toBe(200);
    expect(await apolloGet.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

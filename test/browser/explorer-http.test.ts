import { loadConfig } from '../../src/config';
import { useApp } from '../support/harness';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8';

describe('the explorer over HTTP', () => {
  const app = useApp();

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}${path}`, { headers, redirect: 'manual' });

  const assetUrls = (html: string) =>
    [...html.matchAll(/(?:src|href)="(\/explorer-assets\/[^"]+)"/g)].map((m) => m[1]);

  it('is on by default, off by default in production, and EXPLORER_ENABLED decides', () => {
    expect(loadConfig({}).explorerEnabled).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).explorerEnabled).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', EXPLORER_ENABLED: 'true' }).explorerEnabled).toBe(true);
    expect(loadConfig({ EXPLORER_ENABLED: 'off' }).explorerEnabled).toBe(false);
    expect(() => loadConfig({ EXPLORER_ENABLED: 'maybe' })).toThrow(/EXPLORER_ENABLED/);
  });

  it('gives a browser GraphiQL at GET /graphql, with scripts from this server only', async () => {
    const res = await get('/graphql', { accept: BROWSER_ACCEPT });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('vary')).toMatch(/Accept/i);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe');
    const html = await res.text();
    expect(html).toContain('<title>users-api · GraphiQL</title>');
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/https?:\/\//);
    expect(assetUrls(html)).toHaveLength(6);
  });

  it('serves every asset the pages name, cached for a year', async () => {
    const pages = await Promise.all(['/graphql', '/docs'].map((p) => get(p, { accept: BROWSER_ACCEPT })));
    const urls = new Set((await Promise.all(pages.map((p) => p.text()))).flatMap(assetUrls));
    expect(urls.size).toBe(9);
    for (const url of urls) {
      const res = await get(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(
        url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect((await get('/explorer-assets/0.0.0/graphiql.js')).status).toBe(404);
    expect((await get('/explorer-assets/any/package.json')).status).toBe(404);
    expect((await get('/explorer-assets/any/..%2Fpackage.json')).status).toBe(404);
  });

  it('redirects /graphiql to /graphql and serves the reference at /docs', async () => {
    const redirect = await get('/graphiql', { accept: BROWSER_ACCEPT });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/graphql');

    const docs = await get('/docs', { accept: BROWSER_ACCEPT });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await docs.text()).toContain('swagger-ui');
  });

  it('leaves every other GET /graphql to Apollo, CSRF prevention included', async () => {
    const query = `/graphql?query=${encodeURIComponent('{ __typename }')}`;
    const curlLike = await get('/graphql', { accept: '*/*' });
    expect(curlLike.headers.get('content-type')).toMatch(/json/);
    expect(curlLike.status).toBe(400);

    const noAccept = await get('/graphql');
    expect(noAccept.headers.get('content-type')).toMatch(/json/);

    const browserWithQuery = await get(query, { accept: BROWSER_ACCEPT });
    expect(browserWithQuery.status).toBe(400);
    expect(((await browserWithQuery.json()) as any).errors[0].message).toMatch(/Cross-Site Request Forgery/);

    const preflighted = await get(query, { accept: BROWSER_ACCEPT, 'apollo-require-preflight': 'true' });
    expect(preflighted.status).toBe(200);
    expect(await preflighted.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

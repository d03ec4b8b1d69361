import type { Browser, Page } from 'playwright-core';
import { Fixtures, type TestServer, startServer } from '../support/harness';
import { describeInBrowser, launchChromium, type PageWatch, screenshot, watchPage } from './chromium';

/** The block of one operation, found as a reader finds it: by method and path. */
const operationBlock = (page: Page, method: string, path: string) =>
  page.locator(`.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

/** One path of each documented endpoint (documents 000 to 004). */
const DOCUMENTED = [
  '/v2/user',
  '/v1/users/me',
  '/v1/users/{user_id}',
  '/api/users/{userId}',
  '/api/v1/users/{id}',
];

describeInBrowser('the REST API reference at /docs in a browser', () => {
  let server: TestServer;
  let fixtures: Fixtures;
  let browser: Browser;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    server = await startServer();
    fixtures = new Fixtures(server.services);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    watch = watchPage(page);
  });
  afterEach(() => page.close());

  it('lists every documented endpoint from /openapi.json, loading only from this server', async () => {
    const openapi = await fetch(`${server.url}/openapi.json`);
    expect(openapi.status).toBe(200);
    const document = (await openapi.json()) as { info: { title: string }; paths: Record<string, unknown> };

    await page.goto(`${server.url}/docs`);
    await page.locator('.swagger-ui .opblock').first().waitFor();

    await expect(page.locator('.swagger-ui .info .title').innerText()).resolves.toContain(
      document.info.title,
    );
    const shownPaths = await page.$$eval('.opblock-summary-path', (elements) =>
      elements.map((e) => e.getAttribute('data-path') ?? ''),
    );
    for (const documented of [...DOCUMENTED, ...Object.keys(document.paths)]) {
      expect(shownPaths).toContain(documented);
    }
    const visibleText = (await page.locator('.swagger-ui').innerText()).replace(/\u200b/g, '');
    expect(visibleText).toContain('/v1/users/me');

    await screenshot(page, 'docs.png', true);

    // Opening an operation renders its schemas and examples: still nothing from elsewhere.
    const operation = operationBlock(page, 'patch', '/v1/users/me');
    await operation.locator('.opblock-summary').click();
    // Swagger UI fills the opened block in steps (it may be there and still empty): wait for its content.
    const body = operation.locator('.opblock-body', { hasText: /Request body[\s\S]*Responses/ });
    await body.waitFor();
    await expect(body.innerText()).resolves.toMatch(/Request body[\s\S]*Responses/);

    expect(watch.requests).toContain(`${server.url}/openapi.json`);
    expect(watch.external()).toEqual([]);
    expect(watch.cspViolations).toEqual([]);
    expect(watch.errors).toEqual([]);
  });

  it('sends PUT /v2/user with a token entered under Authorize and shows the answer', async () => {
    const orgId = await fixtures.org('Readers');
    const user = await fixtures.user(orgId, { name: 'Linus Before' });
    const { token } = await fixtures.token(user.id);

    await page.goto(`${server.url}/docs`);
    await page.locator('.swagger-ui .opblock').first().waitFor();

    await page.locator('.swagger-ui .auth-wrapper .authorize').click();
    const patAuth = page.locator('.dialog-ux form', { hasText: 'patAuth (http, Bearer)' });
    await patAuth.locator('input').pressSequentially(token);
    await patAuth.getByRole('button', { name: 'Apply credentials' }).click();
    await patAuth.getByRole('button', { name: 'Close' }).click();

    const operation = operationBlock(page, 'put', '/v2/user');
    await operation.locator('.opblock-summary').click();
    await operation.getByRole('button', { name: 'Try it out' }).click();
    await operation.locator('textarea.body-param__text').fill('{ "name": "Linus Docs" }');
    await operation.getByRole('button', { name: 'Execute' }).click();

    const answer = operation.locator('.live-responses-table .response', { hasText: 'Linus Docs' });
    await answer.waitFor();
    await expect(answer.locator('.response-col_status').innerText()).resolves.toContain('200');
    expect((await fixtures.stored(user.id)).name).toBe('Linus Docs');

    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, 'docs-try-it-out.png');
    expect(watch.external()).toEqual([]);
    expect(watch.cspViolations).toEqual([]);
    expect(watch.errors).toEqual([]);
  });
});

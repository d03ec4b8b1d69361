import type { Page } from 'playwright-core';
import { useApp } from '../support/harness';
import { describeInBrowser, screenshot, useBrowser } from '../support/browser';

/** The block of one operation, found as a reader finds it: by method and path. */
const operationBlock = (page: Page, method: string, path: string) =>
  page.locator(`.opblock-${method}`, {
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });

/** One path of each documented endpoint (documents 000 to 004). */
const DOCUMENTED = [
  '/v2/user',
  '/v1/users/me',
  '/v1/users/{user_id}',
  '/api/users/{userId}',
  '/api/v1/users/{id}',
];

describeInBrowser('the REST API reference at /docs in a browser', () => {
  const app = useApp();
  const browser = useBrowser();

  it('lists every documented endpoint from /openapi.json, loading only from this server', async () => {
    const openapi = await fetch(`${app.url}/openapi.json`);
    expect(openapi.status).toBe(200);
    const document = (await openapi.json()) as { info: { title: string }; paths: Record<string, unknown> };

    await browser.page.goto(`${app.url}/docs`);
    await browser.page.locator('.swagger-ui .opblock').first().waitFor();

    await expect(browser.page.locator('.swagger-ui .info .title').innerText()).resolves.toContain(
      document.info.title,
    );
    const shownPaths = await browser.page.$$eval('.opblock-summary-path', (elements) =>
      elements.map((e) => e.getAttribute('data-path') ?? ''),
    );
    for (const documented of [...DOCUMENTED, ...Object.keys(document.paths)]) {
      expect(shownPaths).toContain(documented);
    }
    const visibleText = (await browser.page.locator('.swagger-ui').innerText()).replace(/\u200b/g, '');
    expect(visibleText).toContain('/v1/users/me');

    await screenshot(browser.page, 'docs.png', true);

    // Opening an operation renders its schemas and examples: still nothing from elsewhere.
    const operation = operationBlock(browser.page, 'patch', '/v1/users/me');
    await operation.locator('.opblock-summary').click();
    // Swagger UI fills the opened block in steps (it may be there and still empty): wait for its content.
    const body = operation.locator('.opblock-body', { hasText: /Request body[\s\S]*Responses/ });
    await body.waitFor();
    await expect(body.innerText()).resolves.toMatch(/Request body[\s\S]*Responses/);

    expect(browser.watch.requests).toContain(`${app.url}/openapi.json`);
    expect(browser.watch.external()).toEqual([]);
    expect(browser.watch.cspViolations).toEqual([]);
    expect(browser.watch.errors).toEqual([]);
  });

  it('sends PUT /v2/user with a token entered under Authorize and shows the answer', async () => {
    const { user, token } = await app.fixtures.orgWithUser('Readers', { name: 'Linus Before' });

    await browser.page.goto(`${app.url}/docs`);
    await browser.page.locator('.swagger-ui .opblock').first().waitFor();

    await browser.page.locator('.swagger-ui .auth-wrapper .authorize').click();
    const patAuth = browser.page.locator('.dialog-ux form', { hasText: 'patAuth (http, Bearer)' });
    await patAuth.locator('input').fill(token);
    await patAuth.getByRole('button', { name: 'Apply credentials' }).click();
    await patAuth.getByRole('button', { name: 'Close' }).click();

    const operation = operationBlock(browser.page, 'put', '/v2/user');
    await operation.locator('.opblock-summary').click();
    await operation.getByRole('button', { name: 'Try it out' }).click();
    await operation.locator('textarea.body-param__text').fill('{ "name": "Linus Docs" }');
    await operation.getByRole('button', { name: 'Execute' }).click();

    const answer = operation.locator('.live-responses-table .response', { hasText: 'Linus Docs' });
    await answer.waitFor();
    await expect(answer.locator('.response-col_status').innerText()).resolves.toContain('200');
    expect((await app.stored(user.id)).name).toBe('Linus Docs');

    await answer.scrollIntoViewIfNeeded();
    await screenshot(browser.page, 'docs-try-it-out.png');
    expect(browser.watch.external()).toEqual([]);
    expect(browser.watch.cspViolations).toEqual([]);
    expect(browser.watch.errors).toEqual([]);
  });
});

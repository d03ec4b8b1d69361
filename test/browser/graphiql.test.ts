import type { Browser, Page } from 'playwright-core';
import { Fixtures, type TestServer, startServer } from '../support/harness';
import { describeInBrowser, launchChromium, type PageWatch, screenshot, watchPage } from './chromium';

/** The text of a CodeMirror editor GraphiQL renders (the visible lines are only a window onto it). */
const editorValue = (page: Page, selector: string) =>
  page.$eval(selector, (element) => (element as any).CodeMirror.getValue() as string);

/** GraphiQL's introspection request: once answered, the page has everything it loads by itself. */
const waitForSchema = (page: Page) =>
  page.waitForResponse(
    (response) =>
      response.request().method() === 'POST' && response.request().postData()?.includes('__schema') === true,
  );

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const RESPONSE_EDITOR = '.graphiql-response .CodeMirror';
const HEADERS_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';

describeInBrowser('GraphiQL in a browser', () => {
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

  it('opens from /graphiql, loads only from this server and starts with a `me` query', async () => {
    const schemaLoaded = waitForSchema(page);
    await page.goto(`${server.url}/graphiql`);
    expect(new URL(page.url()).pathname).toBe('/graphql');
    await page.locator(QUERY_EDITOR).waitFor();
    expect((await schemaLoaded).status()).toBe(200);

    expect(await editorValue(page, QUERY_EDITOR)).toMatch(/query Me \{\s+me \{/);
    expect(await editorValue(page, HEADERS_EDITOR)).toContain('"Authorization": "Bearer <paste a token>"');
    expect(watch.requests.some((url) => url.includes('/explorer-assets/'))).toBe(true);
    expect(watch.external()).toEqual([]);
    expect(watch.cspViolations).toEqual([]);
    expect(watch.errors).toEqual([]);
  });

  it('runs updateMe with a token typed into the headers editor and shows the result', async () => {
    const orgId = await fixtures.org('Explorers');
    const user = await fixtures.user(orgId, { name: 'Grace Before' });
    const { token } = await fixtures.token(user.id);
    const graphqlStatuses: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/graphql' && response.request().method() === 'POST') {
        graphqlStatuses.push(response.status());
      }
    });

    const schemaLoaded = waitForSchema(page);
    await page.goto(`${server.url}/graphql`);
    await page.locator(QUERY_EDITOR).waitFor();
    await schemaLoaded;

    // Replace the headers the way a person would, key by key; the editor closes the brace itself.
    await page.getByRole('button', { name: 'Headers' }).click();
    await page.locator(HEADERS_EDITOR).click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type('{');
    await page.keyboard.press('Enter');
    await page.keyboard.type(`"Authorization": "Bearer ${token}"`);
    await page.keyboard.press('Home'); // twice: to column 0, scrolling the long line back for the screenshot
    await page.keyboard.press('Home');
    expect(JSON.parse(await editorValue(page, HEADERS_EDITOR))).toEqual({ Authorization: `Bearer ${token}` });

    // Replace the query with a mutation, as if pasted.
    await page.locator(QUERY_EDITOR).click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(
      'mutation Rename {\n  updateMe(input: { name: "Grace Hopper" }) {\n    id\n    name\n    version\n  }\n}\n',
    );
    expect(await editorValue(page, QUERY_EDITOR)).toContain('updateMe(input: { name: "Grace Hopper" })');

    // GraphiQL re-reads the document a moment after an edit; a person never clicks run sooner than that.
    await page.waitForFunction(
      (selector) =>
        (globalThis as any).document.querySelector(selector).CodeMirror.operationName === 'Rename',
      QUERY_EDITOR,
    );
    await page.locator('.graphiql-execute-button').click();
    await page.waitForFunction(
      (selector) => (globalThis as any).document.querySelector(selector)?.CodeMirror.getValue().trim() !== '',
      RESPONSE_EDITOR,
    );
    const shown = await page.locator('.graphiql-response').innerText();
    expect(shown).toContain('Grace Hopper');
    expect(shown).toContain('"updateMe"');
    expect(shown).toContain(`"id": "${user.id}"`);
    expect(shown).toContain('"name": "Grace Hopper"');
    expect(shown).not.toContain('"errors"');

    expect((await fixtures.stored(user.id)).name).toBe('Grace Hopper');
    // The schema loaded before the token was pasted: the placeholder header is not sent.
    expect(graphqlStatuses.length).toBeGreaterThanOrEqual(2);
    expect(graphqlStatuses.every((status) => status === 200)).toBe(true);

    await screenshot(page, 'graphiql.png');
    expect(watch.external()).toEqual([]);
    expect(watch.cspViolations).toEqual([]);
    expect(watch.errors).toEqual([]);
  });
});

import type { Page } from 'playwright-core';
import { subscriptionsOpened, useApp } from '../support/harness';
import { describeInBrowser, screenshot, useBrowser } from '../support/browser';

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

/** Opens GraphiQL at /graphql and waits until its editors and schema are there. */
async function openGraphiQL(page: Page, url: string): Promise<void> {
  const schemaLoaded = waitForSchema(page);
  await page.goto(`${url}/graphql`);
  await page.locator(QUERY_EDITOR).waitFor();
  await schemaLoaded;
}

/** Opens the headers editor and selects everything in it, ready to be replaced. */
async function selectHeaders(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Headers' }).click();
  await page.locator(HEADERS_EDITOR).click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
}

/**
 * Replaces the query as if pasted, and waits until GraphiQL has re-read it (a moment after an edit; a
 * person never clicks run sooner than that).
 */
async function pasteOperation(page: Page, text: string, operationName: string): Promise<void> {
  await page.locator(QUERY_EDITOR).click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
  await page.waitForFunction(
    ([selector, name]) =>
      (globalThis as any).document.querySelector(selector).CodeMirror.operationName === name,
    [QUERY_EDITOR, operationName],
  );
}

describeInBrowser('GraphiQL in a browser', () => {
  const app = useApp();
  const browser = useBrowser();

  it('opens from /graphiql, loads only from this server and starts with a `me` query', async () => {
    const schemaLoaded = waitForSchema(browser.page);
    await browser.page.goto(`${app.url}/graphiql`);
    expect(new URL(browser.page.url()).pathname).toBe('/graphql');
    await browser.page.locator(QUERY_EDITOR).waitFor();
    expect((await schemaLoaded).status()).toBe(200);

    expect(await editorValue(browser.page, QUERY_EDITOR)).toMatch(/query Me \{\s+me \{/);
    expect(await editorValue(browser.page, HEADERS_EDITOR)).toContain(
      '"Authorization": "Bearer <paste a token>"',
    );
    expect(browser.watch.requests.some((url) => url.includes('/explorer-assets/'))).toBe(true);
    expect(browser.watch.external()).toEqual([]);
    expect(browser.watch.cspViolations).toEqual([]);
    expect(browser.watch.errors).toEqual([]);
  });

  it('runs updateMe with a token typed into the headers editor and shows the result', async () => {
    const { user, token } = await app.fixtures.orgWithUser('Explorers', { name: 'Grace Before' });
    const graphqlStatuses: number[] = [];
    browser.page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/graphql' && response.request().method() === 'POST') {
        graphqlStatuses.push(response.status());
      }
    });

    await openGraphiQL(browser.page, app.url);

    // Replace the headers the way a person would, key by key; the editor closes the brace itself.
    await selectHeaders(browser.page);
    await browser.page.keyboard.type('{');
    await browser.page.keyboard.press('Enter');
    await browser.page.keyboard.type(`"Authorization": "Bearer ${token}"`);
    await browser.page.keyboard.press('Home'); // twice: to column 0, scrolling the long line back for the screenshot
    await browser.page.keyboard.press('Home');
    expect(JSON.parse(await editorValue(browser.page, HEADERS_EDITOR))).toEqual({
      Authorization: `Bearer ${token}`,
    });

    // Replace the query with a mutation, as if pasted.
    await pasteOperation(
      browser.page,
      'mutation Rename {\n  updateMe(input: { name: "Grace Hopper" }) {\n    id\n    name\n    version\n  }\n}\n',
      'Rename',
    );
    expect(await editorValue(browser.page, QUERY_EDITOR)).toContain(
      'updateMe(input: { name: "Grace Hopper" })',
    );
    await browser.page.locator('.graphiql-execute-button').click();
    await browser.page.waitForFunction(
      (selector) => (globalThis as any).document.querySelector(selector)?.CodeMirror.getValue().trim() !== '',
      RESPONSE_EDITOR,
    );
    const shown = await browser.page.locator('.graphiql-response').innerText();
    expect(shown).toContain('Grace Hopper');
    expect(shown).toContain('"updateMe"');
    expect(shown).toContain(`"id": "${user.id}"`);
    expect(shown).toContain('"name": "Grace Hopper"');
    expect(shown).not.toContain('"errors"');

    expect((await app.stored(user.id)).name).toBe('Grace Hopper');
    // The schema loaded before the token was pasted: the placeholder header is not sent.
    expect(graphqlStatuses.length).toBeGreaterThanOrEqual(2);
    expect(graphqlStatuses.every((status) => status === 200)).toBe(true);

    await screenshot(browser.page, 'graphiql.png');
    expect(browser.watch.external()).toEqual([]);
    expect(browser.watch.cspViolations).toEqual([]);
    expect(browser.watch.errors).toEqual([]);
  });

  it('runs a subscription: a change made meanwhile shows up in the response', async () => {
    const { user, token } = await app.fixtures.orgWithUser('Live explorers', { name: 'Live Before' });
    await openGraphiQL(browser.page, app.url);
    await selectHeaders(browser.page);
    await browser.page.keyboard.insertText(`{"Authorization": "Bearer ${token}"}`);
    await pasteOperation(
      browser.page,
      'subscription Live {\n  userChanged {\n    type\n    version\n  }\n}\n',
      'Live',
    );
    // Once the subscription has started, a change is made through the API.
    await subscriptionsOpened(app, 1, () => browser.page.locator('.graphiql-execute-button').click());
    await app.gql(
      'mutation { updateMe(input: { name: "Live After" }) { version } }',
      {},
      { authorization: `Bearer ${token}` },
    );
    await browser.page.waitForFunction(
      (selector) =>
        (globalThis as any).document.querySelector(selector)?.CodeMirror.getValue().includes('"version": 2'),
      RESPONSE_EDITOR,
    );
    expect(await editorValue(browser.page, RESPONSE_EDITOR)).toContain('"type": "user.updated"');
    expect((await app.stored(user.id)).name).toBe('Live After');
    expect(browser.watch.cspViolations).toEqual([]);
    expect(browser.watch.external()).toEqual([]);
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's chromium package; .ci/run installs it. Playwright never downloads a browser here. */
export const CHROMIUM = '/usr/bin/chromium';

export const chromiumInstalled = fs.existsSync(CHROMIUM);

/** Where the tests leave their screenshots (git-ignored). */
export const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');

/**
 * `describe` when the browser is installed, else `describe.skip` with a notice saying why. The notice goes
 * to stderr: Jest drops console.log output of a file whose tests are all skipped when it runs in a worker.
 */
export function describeInBrowser(name: string, body: () => void): void {
  if (!chromiumInstalled) {
    process.stderr.write(
      `NOTICE: "${name}" is skipped: ${CHROMIUM} is not installed (apt-get install chromium; .ci/run does this).\n`,
    );
    describe.skip(name, body);
    return;
  }
  jest.setTimeout(120_000); // a browser on a busy CI machine is slow; a hang still fails
  describe(name, body);
}

/** Headless Chromium with its own throwaway profile and none of its background calls to Google. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const NOT_NETWORK = new Set(['data:', 'blob:', 'about:']);

/** What a page did that a test must see: every request it made, CSP violations, uncaught errors. */
export interface PageWatch {
  requests: string[];
  /** Requests to anything but this machine: the pages must work with no internet connection. */
  external(): string[];
  cspViolations: string[];
  errors: string[];
}

export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = {
    requests: [],
    external: () =>
      watch.requests.filter((url) => {
        const parsed = new URL(url);
        if (NOT_NETWORK.has(parsed.protocol)) return false;
        return !LOOPBACK.has(parsed.hostname);
      }),
    cspViolations: [],
    errors: [],
  };
  page.on('request', (request) => watch.requests.push(request.url()));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) watch.cspViolations.push(message.text());
  });
  page.on('pageerror', (error) => watch.errors.push(error.message));
  return watch;
}

/** Saves a screenshot into test/artifacts and returns its path. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage });
  return file;
}

/** A suite's browser: one Chromium for the suite, a fresh page (and its watch) for every test. */
export interface BrowserSession {
  readonly page: Page;
  readonly watch: PageWatch;
}

/** Registers the hooks that launch Chromium before the suite, open a page before each test and close both. */
export function useBrowser(viewport = { width: 1400, height: 900 }): BrowserSession {
  let browser: Browser | undefined;
  let current: { page: Page; watch: PageWatch } | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    const page = await browser!.newPage({ viewport });
    current = { page, watch: watchPage(page) };
  });
  afterEach(async () => {
    await current?.page.close();
    current = undefined;
  });
  return {
    get page() {
      return current!.page;
    },
    get watch() {
      return current!.watch;
    },
  };
}

import type { ServerResponse } from 'node:http';
import { sendText } from '../http/answer';
import { escapeHtml } from '../html';

/**
 * Scripts, styles and requests from this server only, and no inline script or style: GraphiQL and
 * Swagger UI set styles through the DOM, which the policy allows (the browser tests fail on any violation).
 */
export const EXPLORER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface Page {
  title: string;
  styles: string[];
  scripts: string[];
  /** The element the bootstrap script renders into, with a message shown until it does. */
  rootId: string;
  loading: string;
}

/** Sends an explorer page: no inline script, so the policy above needs no nonce or hash. */
export function sendPage(res: ServerResponse, page: Page): void {
  const links = page.styles.map((href) => `<link rel="stylesheet" href="${escapeHtml(href)}">`);
  const scripts = page.scripts.map((src) => `<script src="${escapeHtml(src)}"></script>`);
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(page.title)}</title>`,
    '<link rel="icon" href="data:,">',
    ...links,
    '</head>',
    '<body>',
    `<div id="${escapeHtml(page.rootId)}">${escapeHtml(page.loading)}</div>`,
    '<noscript>This page needs JavaScript.</noscript>',
    ...scripts,
    '</body>',
    '</html>',
    '',
  ].join('\n');
  sendText(res, 200, 'text/html; charset=utf-8', html, [
    ['content-security-policy', EXPLORER_CSP],
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'no-referrer'],
    ['cache-control', 'no-cache'],
  ]);
}

/** What a disabled explorer answers, so a person knows it is off on purpose rather than missing. */
export function sendDisabled(res: ServerResponse): void {
  sendText(
    res,
    404,
    'text/plain; charset=utf-8',
    'The API explorer (GraphiQL and /docs) is disabled by configuration (EXPLORER_ENABLED=false).\n',
  );
}

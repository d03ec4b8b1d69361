import type { IncomingMessage, ServerResponse } from 'node:http';
import accepts from 'accepts';
import { redirect } from '../http/answer';
import type { ExplorerAssets } from './assets';
import { sendDisabled, sendPage } from './html-page';

/**
 * A browser opening /graphql prefers HTML and sends no operation; every other GET (an operation in
 * the query string, a JSON client, curl accepting anything) stays Apollo's, with its CSRF prevention.
 */
export function wantsGraphiQL(req: IncomingMessage, search: string): boolean {
  const query = new URLSearchParams(search);
  if (query.has('query') || query.has('extensions')) return false;
  return (
    accepts(req).type(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html'
  );
}

/** GraphiQL, answered at GET /graphql by content negotiation. */
export function sendGraphiQL(res: ServerResponse, assets: ExplorerAssets | null): void {
  if (!assets) return sendDisabled(res);
  sendPage(res, {
    title: 'users-api · GraphiQL',
    styles: [assets.url('graphiql.css'), assets.url('explorer.css')],
    scripts: [
      assets.url('react.js'),
      assets.url('react-dom.js'),
      assets.url('graphiql.js'),
      assets.url('graphiql-init.js'),
    ],
    rootId: 'graphiql',
    loading: 'Loading GraphiQL…',
  });
}

/** /graphiql: a bookmarkable alias of the page at /graphql. */
export function graphiqlAlias(res: ServerResponse, assets: ExplorerAssets | null): void {
  if (!assets) return sendDisabled(res);
  redirect(res, 302, '/graphql');
}

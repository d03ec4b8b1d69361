import { type Request, Router } from 'express';
import type { ExplorerAssets } from './assets';
import { sendDisabled, sendPage } from './html-page';

/**
 * A browser opening /graphql prefers HTML and sends no operation; every other GET (an operation in
 * the query string, a JSON client, curl accepting anything) stays Apollo's, with its CSRF prevention.
 */
export function wantsGraphiQL(req: Request): boolean {
  if (req.query.query !== undefined || req.query.extensions !== undefined) return false;
  return req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

/** GraphiQL at GET /graphql by content negotiation, and /graphiql as a bookmarkable alias. */
export function graphiqlRoutes(assets: ExplorerAssets | null): Router {
  const router = Router();
  router.get('/graphql', (req, res, next) => {
    res.vary('Accept');
    if (!wantsGraphiQL(req)) return next();
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
  });
  router.get('/graphiql', (_req, res) => {
    if (!assets) return sendDisabled(res);
    res.redirect(302, '/graphql');
  });
  return router;
}

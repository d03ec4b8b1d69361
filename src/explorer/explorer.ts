import { Router } from 'express';
import { ASSETS_PATH, ExplorerAssets } from './assets';
import { docsRoutes } from './docs.route';
import { graphiqlRoutes } from './graphiql.route';
import { sendDisabled } from './html-page';

export interface ExplorerOptions {
  /** EXPLORER_ENABLED: when false the pages answer 404 saying so; JSON clients of /graphql see no change. */
  enabled: boolean;
}

/** GraphiQL, the /docs reference and their locally served assets; mount before Apollo's /graphql. */
export function createExplorerRouter(options: ExplorerOptions): Router {
  const assets = options.enabled ? new ExplorerAssets() : null;
  const router = Router();
  router.use(graphiqlRoutes(assets));
  router.use(docsRoutes(assets));
  if (assets) {
    router.use(assets.router());
  } else {
    router.get(`${ASSETS_PATH}/*rest`, (_req, res) => sendDisabled(res));
  }
  return router;
}

import type { RouteTable } from '../http/router';
import { ASSETS_PATH, ExplorerAssets } from './assets';
import { sendDocs } from './docs.route';
import { graphiqlAlias } from './graphiql.route';
import { sendDisabled } from './html-page';

export interface ExplorerOptions {
  /** EXPLORER_ENABLED: when false the pages answer 404 saying so; JSON clients of /graphql see no change. */
  enabled: boolean;
}

/**
 * GraphiQL's alias, the /docs reference and their locally served assets, on the route table; the
 * page at GET /graphql itself is chosen by the GraphQL route (content negotiation).
 */
export function addExplorerRoutes(table: RouteTable, options: ExplorerOptions): ExplorerAssets | null {
  const assets = options.enabled ? new ExplorerAssets() : null;
  table.add('/graphiql', { methods: { GET: ({ res }) => graphiqlAlias(res, assets) } });
  table.add('/docs', { methods: { GET: ({ res }) => sendDocs(res, assets) } });
  table.add(`${ASSETS_PATH}/:version/:name`, {
    methods: {
      GET: ({ res, params }) => (assets ? assets.send(res, params.version, params.name) : sendDisabled(res)),
    },
  });
  return assets;
}

import type { ServerResponse } from 'node:http';
import type { ExplorerAssets } from './assets';
import { sendDisabled, sendPage } from './html-page';

/** The REST shim's reference at GET /docs: Swagger UI rendering GET /openapi.json. */
export function sendDocs(res: ServerResponse, assets: ExplorerAssets | null): void {
  if (!assets) return sendDisabled(res);
  sendPage(res, {
    title: 'users-api · REST API reference',
    styles: [assets.url('swagger-ui.css'), assets.url('explorer.css')],
    scripts: [assets.url('swagger-ui.js'), assets.url('docs-init.js')],
    rootId: 'swagger-ui',
    loading: 'Loading the API reference…',
  });
}

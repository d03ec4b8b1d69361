import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import { sendText } from '../http/answer';
import { DOCS_INIT_JS } from './static/docs-init';
import { EXPLORER_CSS } from './static/explorer-css';
import { GRAPHIQL_INIT_JS } from './static/graphiql-init';

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Where the explorer's assets are served; every one comes from this server, none from a CDN. */
export const ASSETS_PATH = '/explorer-assets';

interface Asset {
  contentType: string;
  /** Part of the URL, so a new package version or bootstrap text is a new URL and long caching is safe. */
  version: string;
  file?: string;
  body?: string | Buffer;
}

/** A file of an installed npm package, found wherever node_modules is. */
function fromPackage(pkg: string, relative: string, contentType: string): Asset {
  const manifest = require.resolve(`${pkg}/package.json`);
  const file = path.join(path.dirname(manifest), relative);
  if (!fs.existsSync(file)) throw new Error(`The API explorer needs ${pkg}/${relative}; run npm install`);
  const { version } = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string };
  return { contentType, version, file };
}

/** Text kept as a TypeScript constant, so the build carries it into dist/ like any other code. */
function fromText(body: string, contentType: string): Asset {
  const version = crypto.createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { contentType, version, body };
}

/** The asset table; resolving it up front makes a missing package fail at start, not in a browser. */
export class ExplorerAssets {
  private readonly assets = new Map<string, Asset>([
    ['react.js', fromPackage('react', 'umd/react.production.min.js', JS)],
    ['react-dom.js', fromPackage('react-dom', 'umd/react-dom.production.min.js', JS)],
    ['graphiql.js', fromPackage('graphiql', 'dist/index.umd.js', JS)],
    ['graphiql.css', fromPackage('graphiql', 'dist/style.css', CSS)],
    ['graphiql-init.js', fromText(GRAPHIQL_INIT_JS, JS)],
    ['swagger-ui.js', fromPackage('swagger-ui-dist', 'swagger-ui-bundle.js', JS)],
    ['swagger-ui.css', fromPackage('swagger-ui-dist', 'swagger-ui.css', CSS)],
    ['docs-init.js', fromText(DOCS_INIT_JS, JS)],
    ['explorer.css', fromText(EXPLORER_CSS, CSS)],
  ]);

  /** The URL of a named asset, versioned. */
  url(name: string): string {
    const asset = this.assets.get(name);
    if (!asset) throw new Error(`Unknown explorer asset ${name}`);
    return `${ASSETS_PATH}/${asset.version}/${name}`;
  }

  /** Answers `/explorer-assets/<version>/<name>` with a year of caching; anything else is 404. */
  send(res: ServerResponse, version: string, name: string): void {
    const asset = this.assets.get(name);
    if (!asset || asset.version !== version) {
      sendText(res, 404, 'text/plain; charset=utf-8', 'No such explorer asset\n');
      return;
    }
    // Read once, on first use: a few files of the installed packages, asked for by every page load.
    asset.body ??= fs.readFileSync(asset.file!);
    sendText(res, 200, asset.contentType, asset.body, [
      ['cache-control', 'public, max-age=31536000, immutable'],
      ['x-content-type-options', 'nosniff'],
    ]);
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ApolloServer, HeaderMap } from '@apollo/server';
import type { RequestContext } from '../auth/principal';

/** A request handler on plain node:http objects (an Express app is one too). */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A route the hot lane answers itself: `match` looks at the method, path and headers only (nothing of
 * the body has been read), and returns what to run or undefined to leave the request to Express.
 */
export interface HotRoute {
  match(req: IncomingMessage, path: string): HotMatch | undefined;
}

export interface HotMatch {
  /** The route's name in metrics, as Express would report it ("/graphql", "/v1/users/:user_id"). */
  label: string;
  /** `search`: the query string with its `?`, or empty. */
  run(req: IncomingMessage, res: ServerResponse, search: string): void;
}

export interface HotLaneOptions {
  routes: HotRoute[];
  /** Everything else, and every request a route turns down. */
  fallback: Handler;
  /** What every request gets first, as the Express app's own first middleware does (request id, log line, metrics). */
  before: (req: IncomingMessage, res: ServerResponse, route: string) => void;
}

/**
 * The API's write requests, answered without Express: its router, its request and response
 * prototypes (set on every request, which keeps V8 from optimising the code that touches them) and its
 * body parsing cost more than the whole GraphQL operation. Only requests in the plain shape the routes
 * check for take this lane; anything unusual (another content type, a compressed or chunked body, a
 * path that does not decode) goes to Express, which answers it as before.
 */
export function hotLane({ routes, fallback, before }: HotLaneOptions): Handler {
  return (req, res) => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    for (const route of routes) {
      const found = route.match(req, path);
      if (found) {
        before(req, res, found.label);
        found.run(req, res, query === -1 ? '' : url.slice(query));
        return;
      }
    }
    fallback(req, res);
  };
}

const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * The body length when the request is a plain JSON body within `limit`: `application/json` in UTF-8,
 * a Content-Length, no Content-Encoding or Transfer-Encoding. Undefined for anything else.
 */
export function plainJsonLength(req: IncomingMessage, limit: number): number | undefined {
  const { headers } = req;
  const type = headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type)) return undefined;
  if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined)
    return undefined;
  const length = Number(headers['content-length']);
  return Number.isInteger(length) && length > 0 && length <= limit ? length : undefined;
}

/** Reads the whole body (its length already checked); rejects if the client goes away first. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('request aborted')));
  });
}

/** Writes a complete response. */
export function sendText(
  res: ServerResponse,
  status: number,
  headers: Iterable<[string, string]>,
  text: string,
): void {
  for (const [name, value] of headers) res.setHeader(name, value);
  res.statusCode = status;
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

export interface GraphqlRouteOptions {
  apollo: ApolloServer<RequestContext>;
  bodyLimitBytes: number;
  context: (req: IncomingMessage, res: ServerResponse) => Promise<RequestContext>;
  /** The answer to a body that is not JSON, as the app's Express error handler gives it. */
  malformedBody: (res: ServerResponse) => void;
  /** Where a failure outside Apollo goes (the response is then a 500 if nothing was sent yet). */
  failed: (error: unknown, req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * POST /graphql with a plain JSON body, handed to Apollo the way its Express integration does
 * (`@as-integrations/express5`), with the body parsed as Express's JSON parser would (strict: an
 * object or an array).
 */
export function graphqlRoute(options: GraphqlRouteOptions): HotRoute {
  const { apollo, bodyLimitBytes } = options;
  const run = async (req: IncomingMessage, res: ServerResponse, search: string) => {
    let body: unknown;
    try {
      let text = await readBody(req);
      // As Express's parser: a byte-order mark is dropped; only an object or an array is JSON here.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const first = /^[ \t\n\r]*(.)/s.exec(text)?.[1];
      if (first !== '{' && first !== '[') return options.malformedBody(res);
      body = JSON.parse(text);
    } catch (error) {
      if (error instanceof SyntaxError) return options.malformedBody(res);
      return; // the client went away
    }
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
    }
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: 'POST', headers, search, body },
      context: () => options.context(req, res),
    });
    if (response.body.kind === 'complete') {
      sendText(res, response.status ?? 200, response.headers, response.body.string);
      return;
    }
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
  const found: HotMatch = {
    label: '/graphql',
    run: (req, res, search) => void run(req, res, search).catch((error) => options.failed(error, req, res)),
  };
  return {
    match: (req, path) =>
      req.method === 'POST' && path === '/graphql' && plainJsonLength(req, bodyLimitBytes) !== undefined
        ? found
        : undefined,
  };
}

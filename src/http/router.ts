import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendText } from './answer';

/** What a route handler gets: the request, its answer, and what the route table read off the URL. */
export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  /** The query string with its `?`, or empty. */
  search: string;
  /** The path without the query string. */
  path: string;
  /** This request's id (X-Request-Id when sane, else generated), also sent back as X-Request-Id. */
  requestId: string;
}

export type RouteHandler = (request: RouteRequest) => Promise<void> | void;

/** The methods one path answers, and how it answers the others. */
export interface PathRoutes {
  /** GET also answers HEAD (Node sends no body for HEAD). */
  methods: Partial<Record<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', RouteHandler>>;
  /** The answer to a method the path does not take (405), given the path's Allow; the default is plain. */
  methodNotAllowed?: (request: RouteRequest, allow: string) => Promise<void> | void;
  /** OPTIONS, given the path's Allow; the default is 204 with Allow. */
  options?: (request: RouteRequest, allow: string) => Promise<void> | void;
  /** The answer when a path parameter is not valid percent-encoding; the default is a plain 400. */
  malformedPath?: RouteHandler;
}

interface Entry {
  template: string;
  names: string[];
  pattern: RegExp | null;
  routes: PathRoutes;
  allow: string;
}

export type Match =
  | { entry: Entry; params: Record<string, string>; malformed: false }
  | { entry: Entry; params: Record<string, never>; malformed: true };

/**
 * The one route table of the server: each path is declared once with the methods it takes, matched
 * once per request. Templates use `:name` segments (one segment each); a trailing slash is ignored and
 * matching is case-sensitive, as Express routed them. Paths without parameters are found by a map
 * lookup; the others are tried in the order they were added.
 */
export class RouteTable {
  private readonly fixed = new Map<string, Entry>();
  private readonly patterns: Entry[] = [];

  add(template: string, routes: PathRoutes): void {
    if (this.fixed.has(template) || this.patterns.some((entry) => entry.template === template)) {
      throw new Error(`${template} is already in the route table`);
    }
    const names: string[] = [];
    const source = template
      .split('/')
      .map((segment) => {
        if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(segment.slice(1));
        return '([^/]+)';
      })
      .join('/');
    const methods = Object.keys(routes.methods);
    const allow = [...methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])), 'OPTIONS'].join(', ');
    const entry: Entry = {
      template,
      names,
      pattern: names.length ? new RegExp(`^${source}/?$`) : null,
      routes,
      allow,
    };
    if (entry.pattern) this.patterns.push(entry);
    else this.fixed.set(template, entry);
  }

  /** Every path template, in the order it was added (fixed paths first). */
  templates(): string[] {
    return [...this.fixed.keys(), ...this.patterns.map((entry) => entry.template)];
  }

  match(path: string): Match | undefined {
    const fixed =
      this.fixed.get(path) ?? (path.endsWith('/') ? this.fixed.get(path.slice(0, -1)) : undefined);
    if (fixed) return { entry: fixed, params: {}, malformed: false };
    for (const entry of this.patterns) {
      const found = entry.pattern!.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      try {
        entry.names.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1])));
      } catch {
        return { entry, params: {}, malformed: true };
      }
      return { entry, params, malformed: false };
    }
    return undefined;
  }

  /** Runs the matched path's handler for `request.req.method`, or its 405, OPTIONS or malformed-path answer. */
  run(match: Match, request: RouteRequest): Promise<void> | void {
    const { routes, allow } = match.entry;
    if (match.malformed) {
      if (routes.malformedPath) return routes.malformedPath(request);
      return plain(request.res, 400, 'The request path is not valid percent-encoded UTF-8\n');
    }
    const method = request.req.method === 'HEAD' ? 'GET' : request.req.method;
    const handler = routes.methods[method as keyof PathRoutes['methods']];
    if (handler) return handler(request);
    if (method === 'OPTIONS') {
      if (routes.options) return routes.options(request, allow);
      request.res.setHeader('Allow', allow);
      request.res.statusCode = 204;
      request.res.end();
      return;
    }
    if (routes.methodNotAllowed) return routes.methodNotAllowed(request, allow);
    request.res.setHeader('Allow', allow);
    return plain(request.res, 405, `${request.req.method} is not allowed here; use ${allow}\n`);
  }
}

function plain(res: ServerResponse, status: number, text: string): void {
  sendText(res, status, 'text/plain; charset=utf-8', text);
}

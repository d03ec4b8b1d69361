import crypto from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import {
  type DocumentNode,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  parse,
  specifiedRules,
  validate,
  type ValidationRule,
} from 'graphql';
import {
  CloseCode,
  type Context,
  handleProtocols,
  makeServer,
  MessageType,
  type ServerOptions,
} from 'graphql-ws';
import { WebSocket, WebSocketServer } from 'ws';
import type { RequestContext } from '../auth/principal';
import { extractCredential } from '../auth/presented-credential';
import type { RequestAuthenticator } from '../auth/request-authenticator';
import type { Config } from '../config';
import { UnauthenticatedError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { formatError, withoutSuggestionText } from '../errors/format-error';

export interface SubscriptionDeps {
  schema: GraphQLSchema;
  validationRules: ValidationRule[];
  authenticator: RequestAuthenticator;
  maxPayloadBytes: number;
  /** The parser's token limit for an operation, as over HTTP (GRAPHQL_MAX_TOKENS). */
  maxTokens: number;
  /** Whether errors may say "Did you mean …?" (GRAPHQL_FIELD_SUGGESTIONS), as over HTTP. */
  fieldSuggestions: boolean;
  limits: Config['subscriptions'];
  /** The server's own origin, besides the upgrade's Host, that may send the `jwt` cookie (PUBLIC_URL). */
  publicUrl: string;
  /** Where an unexpected error that ended a subscription goes, with the connection's request id. */
  logError(error: unknown, requestId?: string): void;
}

/** `error` with the code Apollo gives the same mistake in an HTTP request (and its message, `message`). */
function withCode(error: GraphQLError, code: string, message = error.message): GraphQLError {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code },
  });
}

/** The credential headers a client may put in `connection_init`'s payload, as it would send them over HTTP. */
const CREDENTIAL_PARAMS = ['authorization', 'x-api-key', 'x-jwt-token'];

type Extra = { socket: WebSocket; request: IncomingMessage; requestContext?: RequestContext };

/**
 * Close codes: graphql-ws's for a connection its credentials do not (or no longer) allow; and
 * WebSocket's "try again later" for one too many of a credential, which graphql-ws clients retry after
 * a pause (4429 is graphql-ws's for a second `connection_init`, which they do not retry).
 */
const FORBIDDEN = 4403;
const TOO_MANY = 1013;

/**
 * Whether `now` still grants what `then` did: the same user, role and status, and every scope. A
 * subscription's rights were decided when it began; a change closes it, and the client reconnects with
 * what its credential grants now.
 */
function sameRights(then: RequestContext, now: RequestContext): boolean {
  const [a, b] = [then.principal, now.principal];
  if (!a || !b) return false;
  return (
    a.user.id === b.user.id &&
    a.user.role === b.user.role &&
    a.user.status === b.user.status &&
    [...a.scopes].every((scope) => b.scopes.has(scope))
  );
}

/**
 * The request a connection's credentials amount to: the `connection_init` payload's credential headers
 * (any case), else the upgrade request's own (a cookie, or headers a non-browser client sent).
 */
function credentialRequest(params: Record<string, unknown>, upgrade: IncomingMessage): IncomingMessage {
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(params))
    if (CREDENTIAL_PARAMS.includes(name.toLowerCase()) && typeof value === 'string')
      rawHeaders.push(name, value);
  if (rawHeaders.length === 0) return upgrade;
  const headers = { cookie: undefined } as Record<string, string | undefined>;
  for (let i = 0; i < rawHeaders.length; i += 2) headers[rawHeaders[i].toLowerCase()] = rawHeaders[i + 1];
  return { headers, rawHeaders, socket: upgrade.socket } as unknown as IncomingMessage;
}

/**
 * Whether a browser page of another origin opened the connection. A browser sends its cookies with a
 * WebSocket any page opens, and no CORS check stands in the way (RFC 6455 §10.2): the `jwt` cookie
 * counts only from a page of this server (an Origin of its Host or PUBLIC_URL), or from a client that
 * sends no Origin (not a browser).
 */
function crossOrigin(upgrade: IncomingMessage, publicUrl: string): boolean {
  const origin = upgrade.headers.origin;
  if (origin === undefined) return false;
  try {
    const url = new URL(origin);
    return url.origin !== new URL(publicUrl).origin && url.host !== upgrade.headers.host;
  } catch {
    // "null" (a sandboxed or file: page) or no URL at all.
    return true;
  }
}

/**
 * GraphQL subscriptions over WebSocket at /graphql (graphql-ws, the graphql-transport-ws protocol),
 * authenticated once per connection with the same credentials as HTTP (in `connection_init`), and
 * validated with the same rules as HTTP operations. Returns what closes them.
 */
export function attachSubscriptions(server: Server, deps: SubscriptionDeps): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: deps.maxPayloadBytes });
  const rules = [...specifiedRules, ...deps.validationRules];
  const { recheckMs, maxConnectionsPerCredential, maxPerConnection } = deps.limits;
  /** Open connections by credential id, in this process. */
  const open = new Map<string, number>();
  const cleanup = serve(
    wss,
    {
      schema: deps.schema,
      context: (ctx: Context<Record<string, unknown>, Extra>) => ctx.extra.requestContext,
      onConnect: async (ctx) => {
        const request = credentialRequest(ctx.connectionParams ?? {}, ctx.extra.request);
        const address = ctx.extra.request.socket.remoteAddress ?? 'unknown';
        const extracted = extractCredential(request);
        if (extracted.ok && extracted.credential?.source === 'cookie' && crossOrigin(request, deps.publicUrl))
          return false;
        const authenticate = () => deps.authenticator.authenticate(extracted, crypto.randomUUID(), address);
        let context: RequestContext;
        try {
          context = await authenticate();
        } catch {
          return false;
        }
        if (!context.principal) return false;
        const socket = ctx.extra.socket;
        // Closed while the credential was checked: nothing to count, and no close event to come.
        if (socket.readyState !== WebSocket.OPEN) return false;
        const { credentialId } = context.principal;
        const count = open.get(credentialId) ?? 0;
        if (count >= maxConnectionsPerCredential) {
          socket.close(
            TOO_MANY,
            `Too many connections for this credential (at most ${maxConnectionsPerCredential})`,
          );
          return false;
        }
        open.set(credentialId, count + 1);
        socket.once('close', () => {
          const left = (open.get(credentialId) ?? 1) - 1;
          if (left > 0) open.set(credentialId, left);
          else open.delete(credentialId);
        });
        ctx.extra.requestContext = context;
        // Checked again while open: a revoked or expired credential, or changed rights, end it.
        const timer = setInterval(() => {
          authenticate().then(
            (now) => {
              if (!sameRights(ctx.extra.requestContext!, now))
                socket.close(FORBIDDEN, 'Forbidden: the credential no longer grants these subscriptions');
            },
            // Refused: closed. Not checked (the database unreachable, rate limited): tried again next time.
            (error: unknown) => {
              if (error instanceof UnauthenticatedError)
                socket.close(FORBIDDEN, 'Forbidden: the credential is no longer valid');
            },
          );
        }, recheckMs);
        timer.unref();
        socket.once('close', () => clearInterval(timer));
        return true;
      },
      // The HTTP operations' parser limit and validation rules (graphql-armor's limits) apply here too.
      // Queries and mutations go over HTTP, where rate limits and idempotency apply to them.
      onSubscribe: (ctx, id, payload) => {
        // This subscription is already counted among the connection's.
        if (Object.keys(ctx.subscriptions).filter((other) => other !== id).length >= maxPerConnection)
          return [
            new GraphQLError(`Too many subscriptions on this connection (at most ${maxPerConnection})`, {
              extensions: { code: ErrorCode.RATE_LIMITED },
            }),
          ];
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: deps.maxTokens });
        } catch (error) {
          return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
        }
        // A request error's text as over HTTP: without suggestions of names when they are off.
        const shown = (error: GraphQLError) =>
          deps.fieldSuggestions ? error.message : withoutSuggestionText(error.message);
        const errors = validate(deps.schema, document, rules);
        if (errors.length > 0)
          return errors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED', shown(error)));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation)
          return [
            new GraphQLError(
              payload.operationName
                ? `Unknown operation named "${payload.operationName}".`
                : 'Must provide operation name if query contains multiple operations.',
              { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } },
            ),
          ];
        if (operation.operation !== 'subscription')
          return [
            new GraphQLError(
              `Only subscriptions are served over WebSocket; send ${operation.operation === 'mutation' ? 'mutations' : 'queries'} to POST /graphql`,
              { extensions: { code: 'BAD_REQUEST' } },
            ),
          ];
        // Coerced here as Apollo does over HTTP: a variable of the wrong type is the client's mistake
        // (BAD_USER_INPUT), which graphql-js would report with no code, read as an internal error.
        const variables = getVariableValues(
          deps.schema,
          operation.variableDefinitions ?? [],
          payload.variables ?? {},
        );
        if (variables.errors)
          return variables.errors.map((error) => withCode(error, 'BAD_USER_INPUT', shown(error)));
        return undefined;
      },
      // As over HTTP, errors we did not mean to raise reach the client as INTERNAL_SERVER_ERROR only.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors
          ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) }
          : undefined,
      // What ended a subscription's stream (graphql-ws wraps it, `originalError`) is shown as over HTTP:
      // ours as it is, anything else as INTERNAL_SERVER_ERROR only, and logged. The refusals of
      // onSubscribe pass as they are.
      onError: (ctx, _id, _payload, errors) =>
        errors.map((error) => {
          if (!error.originalError) return error.toJSON();
          const formatted = formatError(error.toJSON(), error.originalError);
          if (formatted.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR)
            deps.logError(error.originalError, ctx.extra.requestContext?.requestId);
          return formatted;
        }),
    },
    deps.logError,
  );
  return cleanup;
}

/** What a client may send (graphql-ws PROTOCOL.md); `connection_ack`, `next` and `error` are the server's. */
const CLIENT_MESSAGE_TYPES = new Set<string>([
  MessageType.ConnectionInit,
  MessageType.Ping,
  MessageType.Pong,
  MessageType.Subscribe,
  MessageType.Complete,
]);

/** The type of a message that is one of the server's, else null (graphql-ws judges everything else). */
function serverMessageType(data: string): string | null {
  try {
    const type = (JSON.parse(data) as { type?: unknown } | null)?.type;
    return typeof type === 'string' && !CLIENT_MESSAGE_TYPES.has(type) ? type : null;
  } catch {
    return null;
  }
}

/**
 * graphql-ws's server on `wss`, wired as its `use/ws` does (protocol choice, a ping every 12 s, a socket
 * that does not answer it within 12 s terminated), with two differences. A message of a type only a
 * server sends is the client's mistake: 4400, as any message the protocol does not specify (graphql-ws
 * throws on it, which `use/ws` answers with 4500). And what fails is logged through the server's logger:
 * `use/ws` writes it, with its stack, to the console, lines that are not JSON; a message over the size
 * limit closes the socket with 1009, which a client can cause on every connection, and is not logged.
 */
function serve(
  wss: WebSocketServer,
  options: ServerOptions<Record<string, unknown>, Extra>,
  logError: (error: unknown) => void,
  keepAliveMs = 12_000,
): () => Promise<void> {
  const server = makeServer(options);
  wss.options.handleProtocols = handleProtocols;
  wss.on('error', logError);
  wss.on('connection', (socket, request) => {
    const fail = (error: unknown) => {
      logError(error);
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    };
    socket.once('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') socket.close(1009, 'Message too big');
      else fail(error);
    });
    let pongWait: NodeJS.Timeout | undefined;
    const ping = setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
      socket.once('pong', () => clearTimeout(pongWait));
      socket.ping();
    }, keepAliveMs);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== WebSocket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (raw) => {
            const data = String(raw);
            const type = serverMessageType(data);
            if (type !== null)
              return socket.close(CloseCode.BadRequest, `Unexpected message of type ${type}`);
            handle(data).catch(fail);
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      clearTimeout(pongWait);
      clearInterval(ping);
      closed(code, String(reason)).catch(logError);
    });
  });
  return async () => {
    for (const client of wss.clients) client.close(1001, 'Going away');
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}

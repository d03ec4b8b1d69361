import crypto from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import {
  type GraphQLError,
  type GraphQLSchema,
  parse,
  specifiedRules,
  validate,
  type ValidationRule,
} from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { RequestContext } from '../auth/principal';
import { extractCredential } from '../auth/presented-credential';
import type { RequestAuthenticator } from '../auth/request-authenticator';

export interface SubscriptionDeps {
  schema: GraphQLSchema;
  validationRules: ValidationRule[];
  authenticator: RequestAuthenticator;
  maxPayloadBytes: number;
}

/** The credential headers a client may put in `connection_init`'s payload, as it would send them over HTTP. */
const CREDENTIAL_PARAMS = ['authorization', 'x-api-key', 'x-jwt-token'];

type Extra = { request: IncomingMessage; requestContext?: RequestContext };

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
 * GraphQL subscriptions over WebSocket at /graphql (graphql-ws, the graphql-transport-ws protocol),
 * authenticated once per connection with the same credentials as HTTP (in `connection_init`), and
 * validated with the same rules as HTTP operations. Returns what closes them.
 */
export function attachSubscriptions(server: Server, deps: SubscriptionDeps): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: '/graphql', maxPayload: deps.maxPayloadBytes });
  const rules = [...specifiedRules, ...deps.validationRules];
  const cleanup = useServer<Record<string, unknown>, Extra>(
    {
      schema: deps.schema,
      context: (ctx: Context<Record<string, unknown>, Extra>) => ctx.extra.requestContext,
      onConnect: async (ctx) => {
        const request = credentialRequest(ctx.connectionParams ?? {}, ctx.extra.request);
        try {
          const context = await deps.authenticator.authenticate(
            extractCredential(request),
            crypto.randomUUID(),
            ctx.extra.request.socket.remoteAddress ?? 'unknown',
          );
          if (!context.principal) return false;
          ctx.extra.requestContext = context;
          return true;
        } catch {
          return false;
        }
      },
      // The HTTP operations' validation rules (graphql-armor's limits) apply here too.
      onSubscribe: (_ctx, _id, payload) => {
        try {
          const errors = validate(deps.schema, parse(payload.query), rules);
          return errors.length > 0 ? errors : undefined;
        } catch (error) {
          return [error as GraphQLError];
        }
      },
    },
    wss,
  );
  return async () => {
    await cleanup.dispose();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  };
}

import type { ApolloServer } from '@apollo/server';
import type { Request, Response, Router } from 'express';
import type { RequestContext } from '../auth/principal';
import { ErrorCode } from '../errors/error-code';
import { requestIdFrom } from '../graphql/context';
import type { CredentialService } from '../services/credential.service';
import { authenticateFor, type CredentialRule } from './credential-rule';
import { type EndpointId, errorBody, restStatusOf } from './error-table';
import { renameFailure, type FieldSpec } from './field-map';
import { graphqlCaller, type GraphqlCaller } from './graphql-call';
import { readJsonObject, type JsonObject } from './json-body';
import { RestFailure, TransportFailure } from './rest-failure';

/** What every shim module needs from the app. */
export interface RestDeps {
  apollo: ApolloServer<RequestContext>;
  credentials: CredentialService;
  bodyLimitBytes: number;
  logError: (error: unknown) => void;
}

/** One request as a shim module sees it: path parameters and GraphQL as the authenticated caller. */
export interface ShimCall {
  params: Record<string, string>;
  graphql: GraphqlCaller;
}

export interface ShimResult {
  status?: number;
  body: unknown;
}

/** A documented endpoint: its paths, credential rule, field names, and its read and write mappings. */
export interface EndpointDefinition {
  id: EndpointId;
  paths: readonly string[];
  credential: CredentialRule;
  /** Body fields, also used to rename fields in GraphQL errors back to the documented names. */
  fields: readonly FieldSpec[];
  read(call: ShimCall): Promise<ShimResult>;
  write: {
    method: 'put' | 'patch' | 'post';
    mediaTypes?: readonly string[];
    handle(call: ShimCall, body: JsonObject): Promise<ShimResult>;
  };
}

function sendFailure(res: Response, endpoint: EndpointDefinition, failure: RestFailure): void {
  const status = restStatusOf(failure.kind);
  if (status === 401) res.setHeader('WWW-Authenticate', endpoint.credential.challenge);
  res.status(status).json(errorBody(endpoint.id, renameFailure(failure, endpoint.fields)));
}

function allowed(endpoint: EndpointDefinition): string {
  return ['GET', 'HEAD', endpoint.write.method.toUpperCase(), 'OPTIONS'].join(', ');
}

/** Registers the endpoint on each of its paths; other methods get 405 with Allow, OPTIONS gets 204. */
export function mountEndpoint(router: Router, endpoint: EndpointDefinition, deps: RestDeps): void {
  const handler =
    (run: (call: ShimCall, req: Request, res: Response) => Promise<ShimResult>) =>
    async (req: Request, res: Response): Promise<void> => {
      try {
        const requestId = requestIdFrom(res.getHeader('x-request-id') as string | undefined);
        const ctx = await authenticateFor(req, endpoint.credential, deps.credentials, requestId);
        const call = {
          params: req.params as Record<string, string>,
          graphql: graphqlCaller(deps.apollo, ctx, deps.logError),
        };
        const result = await run(call, req, res);
        res.status(result.status ?? 200).json(result.body);
      } catch (error) {
        if (error instanceof RestFailure) return sendFailure(res, endpoint, error);
        deps.logError(error);
        sendFailure(res, endpoint, new RestFailure(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
      }
    };
  const read = handler((call) => endpoint.read(call));
  const write = handler(async (call, req, res) => {
    const mediaTypes = endpoint.write.mediaTypes ?? ['application/json'];
    const body = await readJsonObject(req, res, deps.bodyLimitBytes, mediaTypes);
    return endpoint.write.handle(call, body);
  });
  for (const path of endpoint.paths) {
    const route = router.route(path).get(read);
    route[endpoint.write.method](write);
    route
      .options((_req, res) => {
        res.setHeader('Allow', allowed(endpoint));
        res.status(204).end();
      })
      .all((req, res) => {
        res.setHeader('Allow', allowed(endpoint));
        sendFailure(
          res,
          endpoint,
          new RestFailure(
            TransportFailure.METHOD_NOT_ALLOWED,
            `${req.method} is not allowed here; use ${allowed(endpoint)}`,
          ),
        );
      });
  }
}

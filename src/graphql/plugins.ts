import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { Kind, type OperationDefinitionNode } from 'graphql';
import { isUnexpected } from '../errors/format-error';
import type { RequestContext } from '../auth/principal';
import { RateLimitedError } from '../errors/app-error';
import { rateLimitHeaders, type RateDecision, type RateLimits } from '../limits/rate-limits';
import type { Metrics } from '../observability/metrics';

/** The writes a mutation asks for: one per item of each `updateUsers`, one for anything else. */
function writesOf(operation: OperationDefinitionNode, variables: Record<string, unknown>): number {
  let writes = 0;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD || selection.name.value !== 'updateUsers') continue;
    const items = selection.arguments?.find((argument) => argument.name.value === 'items')?.value;
    const value = items?.kind === Kind.VARIABLE ? variables[items.name.value] : undefined;
    writes += items?.kind === Kind.LIST ? items.values.length : Array.isArray(value) ? value.length : 1;
  }
  return Math.max(1, writes);
}

/**
 * Spends one unit of the credential's write budget per mutation request (per item of `updateUsers`) (GraphQL and REST alike) and
 * reports the budget in RateLimit-* headers; a spent budget is RATE_LIMITED with HTTP 429.
 */
export function writeBudgetPlugin(limits: RateLimits): ApolloServerPlugin<RequestContext> {
  const decisions = new WeakMap<RequestContext, RateDecision>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue, request }) {
          if (operation?.operation !== 'mutation' || !contextValue.principal) return;
          const writes = writesOf(operation, request.variables ?? {});
          const decision = await limits.writes.consume(contextValue.principal.credentialId, writes);
          if (!decision) return;
          decisions.set(contextValue, decision);
          if (!decision.allowed) {
            const error = new RateLimitedError(
              `Write rate limit of ${decision.limit} per minute reached; retry in ${decision.resetSeconds} s`,
              rateLimitHeaders(decision),
            );
            Object.assign(error.extensions, { http: { status: 429 } });
            throw error;
          }
        },
        async willSendResponse({ contextValue, response }) {
          const decision = decisions.get(contextValue);
          if (!decision) return;
          for (const [name, value] of Object.entries(rateLimitHeaders(decision)))
            response.http.headers.set(name, value);
        },
      };
    },
  };
}

/** Adds `extensions.changedFields` ({ responseKey: [fields] }) to mutation responses. */
export const changedFieldsPlugin: ApolloServerPlugin<RequestContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ contextValue, response }) {
        if (!contextValue.changedFields || response.body.kind !== 'single') return;
        const result = response.body.singleResult;
        result.extensions = { ...result.extensions, changedFields: contextValue.changedFields };
      },
    };
  },
};

/** Counts operations by name, type and outcome. */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, operationName, response }) {
          const ok = response.body.kind === 'single' && !response.body.singleResult.errors?.length;
          metrics.recordOperation(operationName, operation?.operation ?? 'unknown', ok);
        },
      };
    },
  };
}

/** Logs each error the client will only see as INTERNAL_SERVER_ERROR, with the request's id. */
export function unexpectedErrorsPlugin(
  logError: (error: unknown, requestId?: string) => void,
): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const error of errors) {
            if (isUnexpected(error, error.path, error.extensions?.code)) {
              logError(unwrapResolverError(error), contextValue.requestId);
            }
          }
        },
      };
    },
  };
}

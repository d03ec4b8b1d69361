import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  type DocumentNode,
  type FragmentDefinitionNode,
  getDirectiveValues,
  getVariableValues,
  GraphQLIncludeDirective,
  type GraphQLSchema,
  GraphQLSkipDirective,
  Kind,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';
import { isUnexpected } from '../errors/format-error';
import type { RequestContext } from '../auth/principal';
import { BadUserInputError, RateLimitedError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { rateLimitHeaders, type RateDecision, type RateLimits } from '../limits/rate-limits';
import type { Metrics } from '../observability/metrics';

/** A refusal of the whole request before anything of it runs: 400, BAD_USER_INPUT naming `field`. */
function refusedRequest(field: string, message: string, summary: string): BadUserInputError {
  const error = new BadUserInputError([{ field, message }], summary);
  Object.assign(error.extensions, { http: { status: 400 } });
  return error;
}

/**
 * The writes a mutation asks for: one per item of each `updateUsers`, one per other mutation field,
 * fragments included and fields that @skip/@include leave out not (as execution collects them). Null
 * when the variables that decide it do not coerce: the request then fails before anything runs (BAD_USER_INPUT). An
 * `updateUsers` of more items than it takes refuses the request: it could write nothing.
 */
function writesOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  requestVariables: Record<string, unknown>,
  bulkMaxItems: number,
): number | null {
  // Coerced only when a directive or an `items` variable needs them: most mutations need neither.
  let coerced: ReturnType<typeof getVariableValues> | undefined;
  const variables = () => {
    coerced ??= getVariableValues(schema, operation.variableDefinitions ?? [], requestVariables);
    return coerced.coerced ?? {};
  };
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const spread = new Set<string>();
  const included = (node: SelectionNode) => {
    if (!node.directives?.length) return true;
    const values = variables();
    // Variables that do not coerce fail the request before anything runs (counted below as null).
    if (coerced?.errors) return true;
    return (
      getDirectiveValues(GraphQLSkipDirective, node, values)?.if !== true &&
      getDirectiveValues(GraphQLIncludeDirective, node, values)?.if !== false
    );
  };
  const count = (selections: readonly SelectionNode[]): number => {
    let writes = 0;
    for (const selection of selections) {
      if (!included(selection)) continue;
      if (selection.kind === Kind.INLINE_FRAGMENT) writes += count(selection.selectionSet.selections);
      else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || spread.has(fragment.name.value)) continue;
        spread.add(fragment.name.value);
        writes += count(fragment.selectionSet.selections);
      } else if (selection.name.value === 'updateUsers') {
        const items = selection.arguments?.find((argument) => argument.name.value === 'items')?.value;
        const value = items?.kind === Kind.VARIABLE ? variables()[items.name.value] : undefined;
        const asked =
          items?.kind === Kind.LIST ? items.values.length : Array.isArray(value) ? value.length : 1;
        if (asked > bulkMaxItems) {
          const message = `items takes at most ${bulkMaxItems} updates`;
          throw refusedRequest('items', message, `updateUsers takes at most ${bulkMaxItems} items`);
        }
        writes += asked;
      } else if (selection.name.value !== '__typename') writes += 1;
    }
    return writes;
  };
  const writes = count(operation.selectionSet.selections);
  return coerced?.errors ? null : writes;
}

/**
 * Spends the credential's write budget, one unit per write a mutation asks for (writesOf; GraphQL and REST alike), and
 * reports the budget in RateLimit-* headers; a spent budget is RATE_LIMITED with HTTP 429.
 */
export function writeBudgetPlugin(
  limits: RateLimits,
  bulkMaxItems: number,
): ApolloServerPlugin<RequestContext> {
  const decisions = new WeakMap<RequestContext, RateDecision>();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, contextValue, request }) {
          if (operation?.operation !== 'mutation' || !contextValue.principal) return;
          const writes = writesOf(schema, document, operation, request.variables ?? {}, bulkMaxItems);
          // A mutation whose fields are all skipped runs nothing, and costs nothing.
          if (writes === null || writes === 0) return;
          // More writes than a whole minute's budget can never be allowed: no Retry-After would help.
          if (limits.writes.limit > 0 && writes > limits.writes.limit) {
            throw refusedRequest(
              'operation',
              `the request asks for ${writes} writes, more than the ${limits.writes.limit} a credential may make per minute`,
              `The request asks for more writes than the per-minute budget allows (${limits.writes.limit})`,
            );
          }
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
          if (decision)
            for (const [name, value] of Object.entries(rateLimitHeaders(decision)))
              response.http.headers.set(name, value);
          // A limit a resolver reached (email change confirmations per hour) is answered as a spent
          // budget is: Retry-After, and 429 when the operation answered nothing else.
          if (response.body.kind !== 'single') return;
          const { data, errors = [] } = response.body.singleResult;
          const limited = errors.filter((error) => error.extensions?.code === ErrorCode.RATE_LIMITED);
          if (limited.length === 0) return;
          const retryAfter = Math.max(
            ...limited.map((error) => Number(error.extensions?.retryAfterSeconds ?? 0)),
          );
          if (retryAfter > 0 && !response.http.headers.has('retry-after'))
            response.http.headers.set('retry-after', String(retryAfter));
          if (data == null && limited.length === errors.length) response.http.status = 429;
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

/**
 * What an operation's count is labelled with: the root field it asks for, a name the schema bounds.
 * The client's operation name is not: any client could add a series per name it makes up.
 */
function rootFieldOf(schema: GraphQLSchema, operation: OperationDefinitionNode | undefined): string {
  if (!operation) return 'none';
  const selections = operation.selectionSet.selections;
  if (selections.length !== 1 || selections[0].kind !== Kind.FIELD) return 'several';
  const name = selections[0].name.value;
  const root = schema.getRootType(operation.operation);
  return root?.getFields()[name] || ['__schema', '__type', '__typename'].includes(name) ? name : 'unknown';
}

/** Counts operations by root field, type and outcome. */
export function operationMetricsPlugin(metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ schema, operation, response }) {
          const ok = response.body.kind === 'single' && !response.body.singleResult.errors?.length;
          metrics.recordOperation(rootFieldOf(schema, operation), operation?.operation ?? 'unknown', ok);
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

import { getOperationAST, Kind, parse, valueFromASTUntyped, type OperationDefinitionNode } from 'graphql';
import { variablesWithDefaults } from './operation-variables';
import { IDEMPOTENCY_KEY, IDEMPOTENCY_MESSAGES, requestFingerprint } from '../services/idempotency.service';

/** What an `Idempotency-Key` on a GraphQL request asks for. */
export type IdempotentRequest =
  /** Not one for the key: a query, a batch, a dry run, or a document Apollo will refuse on its own. */
  | { kind: 'ignore' }
  | { kind: 'refuse'; message: string; field: string }
  | { kind: 'claim'; key: string; fingerprint: string };

/** The operation a GraphQL request body runs, when it is one request whose document parses. */
function operationOf(
  body: unknown,
): { operation: OperationDefinitionNode; variables: Record<string, unknown> } | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const { query, operationName, variables } = body as Record<string, unknown>;
  if (typeof query !== 'string') return null;
  try {
    const operation = getOperationAST(
      parse(query),
      typeof operationName === 'string' ? operationName : undefined,
    );
    const values =
      typeof variables === 'object' && variables !== null ? (variables as Record<string, unknown>) : {};
    return operation ? { operation, variables: values } : null;
  } catch {
    return null;
  }
}

/**
 * Reads an `Idempotency-Key` header of a POST /graphql: as on the REST writes, a mutation with one is
 * claimed per credential (IdempotencyService), and its answer stored and replayed. It must make one
 * write, so that the claim is settled in that write's own transaction; a dry run writes nothing and
 * claims nothing.
 */
export function idempotentRequest(header: string | string[] | undefined, body: unknown): IdempotentRequest {
  // A query ignores the header, whatever it holds; a mutation's key is checked, dry run or not (as on REST).
  const found = operationOf(body);
  if (!found || found.operation.operation !== 'mutation') return { kind: 'ignore' };
  if (typeof header !== 'string' || !IDEMPOTENCY_KEY.test(header)) {
    return { kind: 'refuse', field: 'Idempotency-Key', message: IDEMPOTENCY_MESSAGES.invalid };
  }
  const fields = found.operation.selectionSet.selections.filter(
    (selection) => selection.kind !== Kind.FIELD || selection.name.value !== '__typename',
  );
  if (fields.length !== 1 || fields[0].kind !== Kind.FIELD) {
    return {
      kind: 'refuse',
      field: 'Idempotency-Key',
      message: 'A mutation with an Idempotency-Key must select exactly one mutation field',
    };
  }
  const dryRun = fields[0].arguments?.find((argument) => argument.name.value === 'dryRun');
  if (
    dryRun &&
    valueFromASTUntyped(dryRun.value, variablesWithDefaults(found.operation, found.variables)) === true
  )
    return { kind: 'ignore' };
  return {
    kind: 'claim',
    key: header,
    fingerprint: requestFingerprint('POST', '/graphql', JSON.stringify(body)),
  };
}

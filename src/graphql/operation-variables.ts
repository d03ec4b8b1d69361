import { valueFromASTUntyped, type OperationDefinitionNode } from 'graphql';

/**
 * A request's variables, with the defaults the operation declares for those the request leaves out:
 * what the plugins that look at a request before it runs must read arguments with.
 */
export function variablesWithDefaults(
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const values = { ...variables };
  for (const { variable, defaultValue } of operation.variableDefinitions ?? [])
    if (defaultValue && !Object.hasOwn(values, variable.name.value))
      values[variable.name.value] = valueFromASTUntyped(defaultValue);
  return values;
}

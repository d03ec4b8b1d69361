/** Scope names a credential can carry. `read`/`write` are the short forms document 002 uses. */
export const KNOWN_SCOPES = ['users:read', 'users:write', 'read', 'write'] as const;
export type ScopeName = (typeof KNOWN_SCOPES)[number];

/** What personal access tokens and JWTs get unless issued narrower. */
export const FULL_SCOPES: readonly ScopeName[] = ['users:read', 'users:write'];

/** A right a resolver needs, and the scopes any one of which grants it. */
export enum Need {
  READ = 'read users',
  WRITE = 'write users',
}

const GRANTING: Record<Need, readonly string[]> = {
  [Need.READ]: ['users:read', 'read', 'users:write', 'write'],
  [Need.WRITE]: ['users:write', 'write'],
};

export function grants(scopes: ReadonlySet<string>, need: Need): boolean {
  return GRANTING[need].some((scope) => scopes.has(scope));
}

/** The scope names to quote in a FORBIDDEN message. */
export function scopesGranting(need: Need): readonly string[] {
  return need === Need.WRITE ? ['users:write', 'write'] : ['users:read', 'users:write'];
}

export function parseScopes(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

/** Returns the unknown names, so callers can refuse them. */
export function unknownScopes(scopes: readonly string[]): string[] {
  return scopes.filter((scope) => !(KNOWN_SCOPES as readonly string[]).includes(scope));
}

/**
 * `If-Match` read as RFC 9110 §13.1.1 defines it: `*`, or a list of entity tags compared strongly, so
 * a weak tag (`W/"3"`) never matches. User ETags are `"<version>"`.
 */
export type IfMatch =
  /** No header, or `*`: any existing user matches. */
  | { kind: 'any' }
  /** The versions whose strong ETag the list names (empty: nothing can match). */
  | { kind: 'versions'; versions: number[] };

/** One entity tag: optional `W/`, then a quoted string of etagc characters (no `"`, no controls). */
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;
/** A version as the server writes it in an ETag: no sign, no leading zeros. */
const VERSION = /^(?:0|[1-9]\d{0,8})$/;

export function parseIfMatch(header: string | undefined): IfMatch {
  if (header === undefined) return { kind: 'any' };
  const members = header
    .split(',')
    .map((member) => member.trim())
    .filter((member) => member !== '');
  if (members.length === 1 && members[0] === '*') return { kind: 'any' };
  const versions = new Set<number>();
  for (const member of members) {
    const tag = ENTITY_TAG.exec(member);
    // A malformed list can match nothing; a weak tag never matches under strong comparison.
    if (!tag) return { kind: 'versions', versions: [] };
    if (!tag[1] && VERSION.test(tag[2])) versions.add(Number(tag[2]));
  }
  return { kind: 'versions', versions: [...versions] };
}

/** An expected version no user ever has: the write is judged (404, 403, 400 first) and then refused as stale. */
export const NO_VERSION_MATCHES = -1;

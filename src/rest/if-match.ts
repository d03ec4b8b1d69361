/**
 * Conditional request headers read as RFC 9110 §13.1 defines them. User ETags are `"<version>"`.
 * `If-Match` compares strongly (a weak tag `W/"3"` never matches); `If-None-Match` weakly.
 */
export type TagCondition =
  /** No header. */
  | { kind: 'absent' }
  /** `*`: any current representation matches. */
  | { kind: 'any' }
  /** The versions the list's tags name, under the header's comparison (empty: nothing can match). */
  | { kind: 'versions'; versions: number[] };

/** One list member: `*`, or an entity tag (optional `W/`, a quoted string of etagc characters), then `,` or the end. */
const MEMBER = /\s*(?:(\*)|(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")\s*(?:,|$)/y;
/** A version as the server writes it in an ETag: no sign, no leading zeros. */
const VERSION = /^(?:0|[1-9]\d{0,8})$/;

/** Empty list elements, which a list may have (RFC 9110 §5.6.1). */
const SEPARATORS = /[\s,]*/y;

/**
 * The entity tags of a header's list (commas inside a tag are part of it; a header sent more than once
 * is one list), or null when it is malformed.
 */
function listMembers(value: string | string[]): { any: boolean; weak: boolean; opaque: string }[] | null {
  const header = Array.isArray(value) ? value.join(', ') : value;
  const members: { any: boolean; weak: boolean; opaque: string }[] = [];
  let position = 0;
  for (;;) {
    SEPARATORS.lastIndex = position;
    SEPARATORS.exec(header);
    position = SEPARATORS.lastIndex;
    if (position >= header.length) return members;
    MEMBER.lastIndex = position;
    const match = MEMBER.exec(header);
    if (!match) return null;
    members.push({ any: match[1] === '*', weak: match[2] !== undefined, opaque: match[3] ?? '' });
    position = MEMBER.lastIndex;
  }
}

function condition(header: string | string[] | undefined, weakMatches: boolean): TagCondition {
  if (header === undefined) return { kind: 'absent' };
  const members = listMembers(header);
  // A malformed list can match nothing.
  if (!members) return { kind: 'versions', versions: [] };
  if (members.length === 1 && members[0].any) return { kind: 'any' };
  const versions = new Set<number>();
  for (const member of members) {
    if (member.any) return { kind: 'versions', versions: [] };
    if ((weakMatches || !member.weak) && VERSION.test(member.opaque)) versions.add(Number(member.opaque));
  }
  return { kind: 'versions', versions: [...versions] };
}

/** `If-Match`: strong comparison. */
export function parseIfMatch(header: string | string[] | undefined): TagCondition {
  return condition(header, false);
}

/** `If-None-Match`: weak comparison. */
export function parseIfNoneMatch(header: string | string[] | undefined): TagCondition {
  return condition(header, true);
}

/** Whether a representation at `version` meets the condition (an absent header is met by any). */
export function conditionHolds(tags: TagCondition, version: number): boolean {
  return tags.kind !== 'versions' || tags.versions.includes(version);
}

/** Whether `If-None-Match` names the representation at `version` (so GET answers 304, a write 412). */
export function noneMatchFails(tags: TagCondition, version: number): boolean {
  return tags.kind === 'any' || (tags.kind === 'versions' && tags.versions.includes(version));
}

/** Whether an `If-None-Match` header names the opaque tag `etag` (`"…"`), weakly compared: for fixed documents. */
export function noneMatchesTag(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return (listMembers(header) ?? []).some((member) => member.any || `"${member.opaque}"` === etag);
}

/** An expected version no user ever has: the write is judged (404, 403, 400 first) and then refused as stale. */
export const NO_VERSION_MATCHES = -1;

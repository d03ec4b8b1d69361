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

/** Whether an `If-Match` header admits the opaque tag `etag` (`"…"`), strongly compared (absent: yes): for fixed documents. */
export function matchesTag(header: string | string[] | undefined, etag: string): boolean {
  if (header === undefined) return true;
  return (listMembers(header) ?? []).some(
    (member) => member.any || (!member.weak && `"${member.opaque}"` === etag),
  );
}

/** An expected version no user ever has: the write is judged (404, 403, 400 first) and then refused as stale. */
export const NO_VERSION_MATCHES = -1;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** The three forms of HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, then the obsolete RFC 850 and asctime. */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/**
 * An HTTP-date in seconds since the epoch, or null when the value is not one (RFC 9110 §5.6.7, in any of
 * its three forms, always UTC); a recipient then ignores the header (§13.1.3, §13.1.4). A two-digit year
 * more than 50 years ahead is the latest past year with those digits.
 */
export function parseHttpDate(value: string): number | null {
  let day: string, month: string, year: number, time: string[];
  let match = IMF_FIXDATE.exec(value);
  if (match) [day, month, year, time] = [match[1], match[2], Number(match[3]), match.slice(4)];
  else if ((match = RFC850_DATE.exec(value))) {
    const thisYear = new Date().getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(match[3]);
    if (year > thisYear + 50) year -= 100;
    [day, month, time] = [match[1], match[2], match.slice(4)];
  } else if ((match = ASCTIME_DATE.exec(value)))
    [day, month, year, time] = [match[2].trim(), match[1], Number(match[6]), match.slice(3, 6)];
  else return null;
  const [hour, minute, second] = time.map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, MONTHS.indexOf(month), Number(day));
  // No 31 February, no 25 o'clock; :60 is a leap second.
  if (date.getUTCDate() !== Number(day) || hour > 23 || minute > 59 || second > 60) return null;
  return date.getTime() / 1000 + hour * 3600 + minute * 60 + second;
}

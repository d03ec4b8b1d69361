import { BadUserInputError } from '../errors/app-error';

/** What a cursor points into; it is part of the cursor, so one list's cursor is refused by another. */
export type CursorKind = 'user' | 'change' | 'delivery' | 'event';

export const MAX_PAGE = 100;

/** Keys are 32-bit integers on PostgreSQL: a larger bound would fail there as out of range. */
const MAX_KEY = 2 ** 31 - 1;

/** Cursors are opaque to clients: base64url of `<kind>:<integer key>`. */
export function encodeCursor(kind: CursorKind, key: number): string {
  return Buffer.from(`${kind}:${key}`).toString('base64url');
}

export function decodeCursor(kind: CursorKind, cursor: string): number {
  const match = /^([a-z]+):(\d{1,10})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || match[1] !== kind || Number(match[2]) > MAX_KEY) {
    throw new BadUserInputError([{ field: 'after', message: 'after is not a cursor this API issued' }]);
  }
  return Number(match[2]);
}

export function checkPageSize(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
    throw new BadUserInputError([{ field: 'first', message: `first must be between 1 and ${MAX_PAGE}` }]);
  }
}

export interface Page<T> {
  items: T[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** Cuts `first + 1` fetched rows into a page: the extra row only says whether there is a next one. */
export function pageOf<T>(rows: T[], first: number, kind: CursorKind, key: (row: T) => number): Page<T> {
  const items = rows.slice(0, first);
  return {
    items,
    hasNextPage: rows.length > first,
    endCursor: items.length ? encodeCursor(kind, key(items[items.length - 1])) : null,
  };
}

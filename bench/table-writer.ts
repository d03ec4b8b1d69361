/** A batch of rows, column by column; every array has the same length. */
export type Columns = Record<string, readonly (string | number | null)[]>;
/** Values shared by every row of a batch (bound once, not once per row). */
export type Constants = Record<string, string | number>;

/** What every generated user row shares. */
export interface UserBatch {
  /** First and last user index (inclusive); user i gets numeric id i + 1, user 0 is the admin. */
  first: number;
  last: number;
  nonce: string;
  organizationId: string;
  now: string;
}

/** The user columns the seed fills; the rest keep their defaults (version 1, credits 0, nulls). */
export const USER_COLUMNS = [
  'numeric_id',
  'id',
  'uuid',
  'organization_id',
  'email',
  'email_lower',
  'name',
  'username',
  'username_lower',
  'role',
  'status',
  'experiments',
  'metadata',
  'created_at',
  'updated_at',
].join(', ');

/** Bulk inserts for seeding: one multi-row INSERT per batch, inside explicit transactions. */
export interface TableWriter {
  begin(): Promise<void>;
  commit(): Promise<void>;
  insert(table: string, columns: Columns, constants?: Constants): Promise<void>;
  /**
   * Users `first … last` in one `INSERT … SELECT` over a generated series: the rows are computed by the
   * database (ids as userIdOf computes them), so a million users cost no parameter binding at all.
   */
  insertUsers(batch: UserBatch): Promise<void>;
  /** Post-load housekeeping a production database would have had: statistics, sequences. */
  finish(): Promise<void>;
  close(): Promise<void>;
}

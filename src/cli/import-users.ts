import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parse as parseCsv } from 'csv-parse/sync';
import type { RequestContext } from '../auth/principal';
import { Role } from '../entities/enums';
import { AppError, BadUserInputError, ConflictError } from '../errors/app-error';
import type { UserProvisioningService } from '../services/user-provisioning.service';
import type { UserService } from '../services/user.service';
import type { NewUserInput } from '../services/validation/new-user.input';

export type ImportFormat = 'csv' | 'jsonl';

/** The columns a row may have; `email` and `name` are required. */
export const IMPORT_COLUMNS = [
  'email',
  'name',
  'role',
  'username',
  'firstName',
  'lastName',
  'jobTitle',
  'companyName',
  'timezone',
] as const;

export interface RowOutcome {
  line: number;
  email: string | null;
  reason: string;
}

export interface ImportSummary {
  file: string;
  total: number;
  /** Users created. */
  imported: number;
  /** Existing users (matched by email) changed by their row, with `--update`. */
  updated: number;
  /** Rows whose email already exists in the organization (without `--update`), or whose update changed nothing. */
  skipped: RowOutcome[];
  refused: RowOutcome[];
}

interface Row {
  line: number;
  fields: Record<string, unknown> | null;
  /** Why the row could not even be read. */
  unreadable?: string;
}

export function formatOf(file: string, explicit?: string): ImportFormat {
  const format =
    explicit ??
    (/\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : path.extname(file).toLowerCase() === '.csv' ? 'csv' : '');
  if (format !== 'csv' && format !== 'jsonl') {
    throw new BadUserInputError([
      { field: 'format', message: 'format must be csv or jsonl (or use a .csv/.jsonl file name)' },
    ]);
  }
  return format;
}

/** Counts data rows first, so the progress bar knows its end. */
export async function countRows(file: string, format: ImportFormat): Promise<number> {
  let count = 0;
  for await (const row of readRows(file, format)) if (row) count += 1;
  return count;
}

/** The file's lines, numbered from 1, without their line ends (LF or CRLF) or a leading byte-order mark. */
async function* linesOf(file: string): AsyncGenerator<[number, string]> {
  const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const read of lines) {
    line += 1;
    yield [line, line === 1 && read.charCodeAt(0) === 0xfeff ? read.slice(1) : read];
  }
}

/** How many lines a CSV record may span (a quoted field with line breaks) before it counts as unreadable. */
const RECORD_MAX_LINES = 100;

/** A record's fields, or why it cannot be read. A quote inside an unquoted field is text (Dwayne "The Rock" Johnson). */
function csvRecord(text: string): string[] | Error {
  // Without quotes a record is its text split at commas (most rows; a parser for each costs 4 times as much).
  if (!text.includes('"')) return text.split(',').map((field) => field.trim());
  try {
    const [fields = []] = parseCsv(text, {
      relax_quotes: true,
      relax_column_count: true,
      trim: true,
    }) as string[][];
    return fields;
  } catch (error) {
    return new Error(`not valid CSV: ${(error as Error).message.replace(/ at line \d+$/, '')}`);
  }
}

/**
 * The CSV rows, each at the line it starts on. Records are read one at a time, so that one that cannot
 * be read is that row's refusal and never the end of the rest: a record is the lines up to one where its
 * quotes balance (a quoted field may hold line breaks); when such a record does not read, its first line
 * is refused and reading starts again on the line after it.
 */
async function* csvRows(file: string): AsyncGenerator<Row> {
  let header: string[] | null = null;
  /** Lines of the record being read: its first line's number, and their text. */
  let pending: [number, string][] = [];
  const quotesBalance = (lines: [number, string][]) =>
    lines.reduce((count, [, text]) => count + (text.match(/"/g)?.length ?? 0), 0) % 2 === 0;
  const rowOf = function* (lines: [number, string][]): Generator<Row> {
    const [first] = lines[0];
    const fields = csvRecord(lines.map(([, text]) => text).join('\n'));
    if (fields instanceof Error) {
      if (!header)
        throw new BadUserInputError([
          { field: 'file', message: `its header (line ${first}) is ${fields.message}` },
        ]);
      yield { line: first, fields: null, unreadable: fields.message };
      // The lines may not belong together after all (an unclosed quote): the first is refused, the rest read again.
      for (const line of lines.slice(1)) yield* feed(line);
      return;
    }
    if (!header) {
      const twice = fields.filter((name, index) => fields.indexOf(name) !== index);
      // A column named twice would silently keep one of its values.
      if (twice.length > 0)
        throw new BadUserInputError([
          { field: 'file', message: `the header names ${[...new Set(twice)].join(', ')} more than once` },
        ]);
      header = fields;
      return;
    }
    const row: Record<string, unknown> = {};
    header.forEach((name, index) => {
      if (fields[index] !== undefined && fields[index] !== '') row[name] = fields[index];
    });
    yield { line: first, fields: row };
  };
  const feed = function* (line: [number, string]): Generator<Row> {
    if (pending.length === 0 && line[1].trim() === '') return;
    pending.push(line);
    if (!quotesBalance(pending) && pending.length < RECORD_MAX_LINES) return;
    const record = pending;
    pending = [];
    yield* rowOf(record);
  };
  for await (const line of linesOf(file)) yield* feed(line);
  // What is left never balanced its quotes: a record with a quote not closed.
  while (pending.length > 0) {
    const record = pending;
    pending = [];
    yield* rowOf(record);
  }
}

async function* readRows(file: string, format: ImportFormat): AsyncGenerator<Row> {
  if (format === 'csv') return yield* csvRows(file);
  for await (const [line, text] of linesOf(file)) {
    if (!text.trim()) continue;
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        yield { line, fields: null, unreadable: 'line is not a JSON object' };
      } else {
        yield { line, fields: value as Record<string, unknown> };
      }
    } catch {
      yield { line, fields: null, unreadable: 'line is not valid JSON' };
    }
  }
}

function problem(error: unknown): string {
  if (error instanceof BadUserInputError) return error.fields.map((f) => f.message).join('; ');
  if (error instanceof AppError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Rows written per transaction: the file is read a batch at a time, so memory stays flat. */
const BATCH_ROWS = 1000;

/** The row as a new user's input, or why it cannot be one. */
function inputOf(row: Row): NewUserInput | Error {
  if (!row.fields) return new Error(row.unreadable);
  const unknown = Object.keys(row.fields).filter(
    (key) => !(IMPORT_COLUMNS as readonly string[]).includes(key),
  );
  if (unknown.length) return new Error(`unknown column(s): ${unknown.join(', ')}`);
  const role = row.fields.role;
  if (role !== undefined && !Object.values(Role).includes(role as Role)) {
    return new Error(`role must be one of ${Object.values(Role).join(', ')}`);
  }
  return row.fields as unknown as NewUserInput;
}

/**
 * Creates one user per row, a batch of rows per transaction. A refused row is recorded with its reason
 * and never stops the rest. A row whose email already exists in the organization is skipped, so a rerun
 * after a partial import is safe; with `update`, that user is updated with the row's other fields
 * instead, through the same rules, version and history as any update (rerunning changes nothing more).
 */
export async function importUsers(
  { users, provisioning }: { users: UserService; provisioning: UserProvisioningService },
  ctx: RequestContext,
  organizationId: string,
  file: string,
  format: ImportFormat,
  onRow: (done: number) => void = () => undefined,
  options: { update?: boolean } = {},
): Promise<ImportSummary> {
  const summary: ImportSummary = { file, total: 0, imported: 0, updated: 0, skipped: [], refused: [] };
  const emailOf = (row: Row) => (typeof row.fields?.email === 'string' ? row.fields.email : null);
  const refuse = (row: Row, error: unknown) =>
    summary.refused.push({ line: row.line, email: emailOf(row), reason: problem(error) });
  /** The line each email (lower-cased) was first seen on: one row per user, so that a rerun changes nothing. */
  const firstLine = new Map<string, number>();

  const writeBatch = async (rows: Row[]) => {
    const valid: Array<{ row: Row; input: NewUserInput }> = [];
    for (const row of rows) {
      const input = inputOf(row);
      const email = input instanceof Error ? undefined : emailOf(row)?.toLowerCase();
      const seen = email === undefined ? undefined : firstLine.get(email);
      if (input instanceof Error) refuse(row, input);
      else if (seen !== undefined)
        refuse(row, new Error(`the email of line ${seen} again: one row per user`));
      else {
        if (email !== undefined) firstLine.set(email, row.line);
        valid.push({ row, input });
      }
    }
    const existing = options.update
      ? await provisioning.existingByEmail(
          ctx,
          organizationId,
          valid.map(({ input }) => String(input.email)),
        )
      : new Map<string, string>();
    const creates = valid.filter(({ input }) => !existing.has(String(input.email).toLowerCase()));
    const updates = valid.filter(({ input }) => existing.has(String(input.email).toLowerCase()));
    const created = await provisioning.createMany(
      ctx,
      organizationId,
      creates.map(({ input }) => input),
    );
    created.forEach((result, index) => {
      const { row } = creates[index];
      if ('user' in result) summary.imported += 1;
      else if (result.refusal instanceof ConflictError && result.refusal.field === 'email')
        summary.skipped.push({
          line: row.line,
          email: emailOf(row),
          reason: 'a user with this email already exists',
        });
      else refuse(row, result.refusal);
    });
    // Updates of different users go together (one commit for many); a user's rows apply in file order.
    const outcomes = await Promise.allSettled(
      updates.map(async ({ input }) => {
        const checked = await provisioning.validateUserUpdate({ ...input, organizationId });
        const patch: Record<string, unknown> = { ...checked };
        delete patch.email;
        delete patch.organizationId;
        return users.update(ctx, existing.get(String(input.email).toLowerCase())!, patch);
      }),
    );
    outcomes.forEach((outcome, index) => {
      const { row } = updates[index];
      if (outcome.status === 'rejected') refuse(row, outcome.reason);
      else if (outcome.value.changedFields.length > 0) summary.updated += 1;
      else
        summary.skipped.push({
          line: row.line,
          email: emailOf(row),
          reason: 'the user already has these values',
        });
    });
  };

  let batch: Row[] = [];
  for await (const row of readRows(file, format)) {
    summary.total += 1;
    batch.push(row);
    if (batch.length < BATCH_ROWS) continue;
    await writeBatch(batch);
    batch = [];
    onRow(summary.total);
  }
  if (batch.length) {
    await writeBatch(batch);
    onRow(summary.total);
  }
  // A thousand new users or more change the table's size enough to mislead the planner.
  if (summary.imported >= BATCH_ROWS) await provisioning.refreshStatistics(ctx);
  // Each batch reports creations before updates: the lists go back to the file's order.
  summary.skipped.sort((a, b) => a.line - b.line);
  summary.refused.sort((a, b) => a.line - b.line);
  return summary;
}

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parse as parseCsv } from 'csv-parse';
import type { RequestContext } from '../auth/principal';
import { Role } from '../entities/enums';
import { AppError, BadUserInputError, ConflictError } from '../errors/app-error';
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
  imported: number;
  /** Rows whose email already exists in the organization: importing twice is harmless. */
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

async function* readRows(file: string, format: ImportFormat): AsyncGenerator<Row> {
  if (format === 'jsonl') {
    const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
    let line = 0;
    for await (const text of lines) {
      line += 1;
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
    return;
  }
  const parser = fs.createReadStream(file).pipe(
    parseCsv({
      columns: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
      bom: true,
      info: true,
    }),
  );
  for await (const record of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record.record)) if (value !== '') fields[key] = value;
    yield { line: record.info.lines, fields };
  }
}

function problem(error: unknown): string {
  if (error instanceof BadUserInputError) return error.fields.map((f) => f.message).join('; ');
  if (error instanceof AppError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates one user per row. A refused row is recorded with its reason and never stops the rest; a row
 * whose email is already taken in the organization is skipped, so a rerun after a partial import is safe.
 */
export async function importUsers(
  users: UserService,
  ctx: RequestContext,
  organizationId: string,
  file: string,
  format: ImportFormat,
  onRow: (done: number) => void = () => undefined,
): Promise<ImportSummary> {
  const summary: ImportSummary = { file, total: 0, imported: 0, skipped: [], refused: [] };
  for await (const row of readRows(file, format)) {
    summary.total += 1;
    const email = typeof row.fields?.email === 'string' ? row.fields.email : null;
    try {
      if (!row.fields) throw new Error(row.unreadable);
      const unknown = Object.keys(row.fields).filter(
        (key) => !(IMPORT_COLUMNS as readonly string[]).includes(key),
      );
      if (unknown.length) throw new Error(`unknown column(s): ${unknown.join(', ')}`);
      const role = row.fields.role;
      if (role !== undefined && !Object.values(Role).includes(role as Role)) {
        throw new Error(`role must be one of ${Object.values(Role).join(', ')}`);
      }
      await users.create(ctx, { ...row.fields, organizationId } as NewUserInput);
      summary.imported += 1;
    } catch (error) {
      if (error instanceof ConflictError && error.field === 'email') {
        summary.skipped.push({ line: row.line, email, reason: 'a user with this email already exists' });
      } else {
        summary.refused.push({ line: row.line, email, reason: problem(error) });
      }
    }
    onRow(summary.total);
  }
  return summary;
}

import sqlite3 from 'sqlite3';

/**
 * Prepared statements of one connection, reused: one in use at a time each, more are prepared when
 * uses overlap. The adapter's statements are a fixed set of texts, so nothing needs evicting. Only
 * plain `sqlite3` is imported: the database thread loads this file too, and starts sooner without more.
 */
export class StatementPool {
  private readonly idle = new Map<string, sqlite3.Statement[]>();

  constructor(
    private readonly db: sqlite3.Database,
    private readonly maxIdlePerStatement = 8,
  ) {}

  async all(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
    let idle = this.idle.get(sql);
    if (!idle) this.idle.set(sql, (idle = []));
    const statement = idle.pop() ?? (await this.prepare(sql));
    return new Promise((resolve, reject) => {
      statement.all(params, (error: Error | null, rows: Record<string, unknown>[]) => {
        if (idle.length < this.maxIdlePerStatement) idle.push(statement);
        else statement.finalize();
        if (error) reject(error);
        else resolve(rows);
      });
    });
  }

  /** Finalizes the idle statements and closes the connection (errors ignored: it is going away). */
  async close(): Promise<void> {
    for (const statements of this.idle.values()) for (const statement of statements) statement.finalize();
    this.idle.clear();
    await new Promise<void>((resolve) => this.db.close(() => resolve()));
  }

  /** A statement that does not prepare (no such table…) fails this call only, and is not kept. */
  private prepare(sql: string): Promise<sqlite3.Statement> {
    return new Promise((resolve, reject) => {
      const statement = this.db.prepare(sql, (error: Error | null) =>
        error ? reject(error) : resolve(statement),
      );
    });
  }
}

export function openDatabase(file: string, mode: number): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, mode, (error) => (error ? reject(error) : resolve(db)));
  });
}

export function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())));
}

/** A driver error as it crosses between threads. */
export interface ErrorInfo {
  message: string;
  code?: string;
  errno?: number;
}

export function describeError(error: unknown): ErrorInfo {
  const e = error as { message?: string; code?: string; errno?: number };
  return { message: String(e?.message ?? error), code: e?.code, errno: e?.errno };
}

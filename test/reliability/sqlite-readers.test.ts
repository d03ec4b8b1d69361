import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import type { DataSource } from 'typeorm';
import { DriverError, type HotConnections } from '../../src/db/connections';
import { hotConnectionsFor } from '../../src/db/database';
import { exec, openDatabase } from '../../src/db/sqlite/statements';

/**
 * SQLite's hot path reads on read-only connections of the main thread and writes on the database
 * thread: a read must see every write that has been answered, and the readers must recover from a
 * failed start and refuse work once closed. (SQLite only; these are the SQLite connections' own rules.)
 */
describe('SQLite: reads on the main thread, writes on the database thread', () => {
  let dir: string;
  let file: string;
  let connections: HotConnections;
  const dataSource = { isInitialized: true, options: { type: 'sqlite', database: '', busyTimeout: 1000 } };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-readers-'));
    file = path.join(dir, 'db.sqlite');
    dataSource.options.database = file;
    connections = hotConnectionsFor(dataSource as unknown as DataSource);
  });
  afterEach(async () => {
    await connections.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function createTable(): Promise<void> {
    const db = await openDatabase(file, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE);
    await exec(db, 'PRAGMA journal_mode = WAL; CREATE TABLE items (id INTEGER PRIMARY KEY, value TEXT)');
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }

  const insert = (id: number, value: string) =>
    connections.transact([
      {
        sql: 'INSERT INTO items (id, value) VALUES ($1, $2) RETURNING id',
        params: [id, value],
        requireRow: true,
      },
    ]);

  it('a read sees each write as soon as the write is answered', async () => {
    await createTable();
    for (let id = 1; id <= 20; id++) {
      expect(await insert(id, `v${id}`)).toEqual({ applied: true });
      expect(await connections.read('SELECT value FROM items WHERE id = $1', [id])).toEqual([[`v${id}`]]);
    }
    expect(await connections.read('SELECT count(*) FROM items', [])).toEqual([[20]]);
  });

  it('reports a read the database refuses as a DriverError with its code', async () => {
    await createTable();
    await expect(connections.read('SELECT nothing FROM nowhere', [])).rejects.toMatchObject({
      name: 'DriverError',
      code: 'SQLITE_ERROR',
    });
    // The readers are still usable.
    expect(await connections.read('SELECT count(*) FROM items', [])).toEqual([[0]]);
  });

  it('a read fails while the readers cannot open, and the next read opens them', async () => {
    // No database file yet: a read-only connection cannot be opened.
    const failed = connections.read('SELECT 1', []);
    await expect(failed).rejects.toBeInstanceOf(DriverError);
    await expect(failed).rejects.toMatchObject({ code: 'SQLITE_CANTOPEN' });
    await createTable();
    expect(await connections.read('SELECT 1', [])).toEqual([[1]]);
  });

  it('refuses reads and writes once closed', async () => {
    await createTable();
    expect(await connections.read('SELECT 1', [])).toEqual([[1]]);
    await connections.close();
    await expect(connections.read('SELECT 1', [])).rejects.toThrow(/closed/);
    await expect(insert(1, 'late')).rejects.toThrow(/closed/);
  });
});

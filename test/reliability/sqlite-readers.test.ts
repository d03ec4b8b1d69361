import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { DriverError } from '../../src/db/port';
import { SqliteAdapter } from '../../src/db/sqlite/sqlite.adapter';
import { usingPostgres } from '../support/database';
import { bearer, gql, useApp, useOrgAdmin } from '../support/harness';

/**
 * SQLite's adapter reads on read-only connections of the main thread and writes on the database
 * thread: a read must see every write that has been answered, and the readers must recover from a
 * failed start and refuse work once closed. (SQLite only; these are the SQLite adapter's own rules.)
 */
(usingPostgres ? describe.skip : describe)(
  'SQLite: reads on the main thread, writes on the database thread',
  () => {
    const app = useApp();
    const org = useOrgAdmin(app, 'Readers');
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-readers-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** An adapter of its own on a copy of the app's database (made when `copy` is called). */
    function separateAdapter() {
      const file = path.join(dir, 'db.sqlite');
      const dataSource = app.server.services.db.dataSource;
      const adapter = new SqliteAdapter(dataSource, file, 1000);
      const copy = async () => {
        // Through the app's Database: its units of work on TypeORM's one connection take turns.
        await app.server.services.db.read((m) => m.query('PRAGMA wal_checkpoint(TRUNCATE)'));
        fs.copyFileSync(dataSource.options.database as string, file);
      };
      return { adapter, copy };
    }

    it("sqlite3's verbose mode stays off, though TypeORM asks for it: no call captures a stack trace", () => {
      // The app's data source is open (useApp), so TypeORM has called its driver's verbose() by now.
      // Verbose mode would replace this native method with a wrapper (sqlite3/lib/trace.js).
      expect(String(sqlite3.Statement.prototype.all)).toContain('[native code]');
      expect(String(sqlite3.Database.prototype.exec)).toContain('[native code]');
    });

    it('a read sees each write as soon as the write is answered', async () => {
      const member = await app.fixtures.user(org.orgId);
      for (let round = 1; round <= 20; round++) {
        const answer = await gql(
          app.url,
          'mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { version } }',
          { id: member.id, input: { jobTitle: `Round ${round}` } },
          bearer(org.adminToken),
        );
        expect(answer.body.data.updateUser.version).toBe(round + 1);
        const read = await app.server.services.db.users.userById(member.id);
        expect(read).toMatchObject({ jobTitle: `Round ${round}`, version: round + 1 });
      }
    });

    it('a read fails while the readers cannot open, and the next read opens them', async () => {
      const { adapter, copy } = separateAdapter();
      try {
        // No database file yet: a read-only connection cannot be opened.
        const failed = adapter.userById('usr_missing');
        await expect(failed).rejects.toBeInstanceOf(DriverError);
        await expect(failed).rejects.toMatchObject({ code: 'SQLITE_CANTOPEN' });
        await copy();
        expect(await adapter.userById(org.admin.id)).toMatchObject({ id: org.admin.id });
      } finally {
        await adapter.close();
      }
    });

    it('refuses reads and writes once closed', async () => {
      const { adapter, copy } = separateAdapter();
      await copy();
      const admin = await adapter.userById(org.admin.id);
      expect(admin).toMatchObject({ id: org.admin.id });
      await adapter.close();
      await expect(adapter.userById(org.admin.id)).rejects.toThrow(/closed/);
      await expect(adapter.touchCredential(org.credentialId, new Date().toISOString())).rejects.toThrow(
        /closed/,
      );
    });
  },
);

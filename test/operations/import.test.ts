import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { operatorContext } from '../../src/auth/principal';
import { Role } from '../../src/entities/enums';
import { UserChange } from '../../src/entities/user-change.entity';
import { useApp } from '../support/harness';
import { runCli, singleJsonObject, startProcess, waitForOutput } from '../support/processes';

describe('operator CLI: user import', () => {
  let dir: string;

  const write = (name: string, lines: string[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };
  const importFile = (orgId: string, file: string, ...extra: string[]) =>
    runCli(app.server.env, 'user', 'import', '--org', orgId, '--file', file, ...extra);
  const members = async (orgId: string) =>
    app.server.services.users.listOrganization(operatorContext(), orgId);
  /** The organization's users by email. */
  const membersByEmail = async (orgId: string) => new Map((await members(orgId)).map((u) => [u.email, u]));

  const app = useApp();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-import-'));
  });
  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const CSV = [
    'email,name,role,username,timezone',
    'ok1@example.com,Okay One,member,okone,Europe/London',
    'bad-email,Bad Email,member,,',
    'ok2@example.com,Okay Two,admin,oktwo,',
    'role@example.com,Wrong Role,superuser,,',
    'dupuser@example.com,Duplicate Username,member,OKONE,',
    'ok3@example.com,"Okay, Three",,,',
  ];

  it('imports a CSV file, refuses bad rows with reasons without stopping, and exits 3; a rerun skips every imported row', async () => {
    const orgId = await app.fixtures.org('Csv Import');
    const file = write('users.csv', CSV);

    const first = await importFile(orgId, file, '--json');
    expect(first.code).toBe(3);
    expect(first.stderr).toBe('');
    const summary = singleJsonObject(first.stdout);
    expect(summary).toMatchObject({ file, total: 6, imported: 3, skipped: [] });
    expect(summary.refused).toEqual([
      { line: 3, email: 'bad-email', reason: expect.stringMatching(/email/i) },
      { line: 5, email: 'role@example.com', reason: expect.stringMatching(/role must be one of/) },
      { line: 6, email: 'dupuser@example.com', reason: expect.stringMatching(/username already taken/i) },
    ]);

    // Valid rows after a refused one were imported, with their columns.
    const imported = await membersByEmail(orgId);
    expect([...imported.keys()].sort()).toEqual(['ok1@example.com', 'ok2@example.com', 'ok3@example.com']);
    expect(imported.get('ok1@example.com')).toMatchObject({
      name: 'Okay One',
      username: 'okone',
      role: 'member',
      timezone: 'Europe/London',
    });
    expect(imported.get('ok2@example.com')).toMatchObject({ role: 'admin' });
    expect(imported.get('ok3@example.com')).toMatchObject({
      name: 'Okay, Three',
      role: 'member',
    });

    // Rerunning the same file (for people this time) skips what is there, also rows whose username is
    // taken too (the email decides, on both databases), and refuses the same rows.
    const again = await importFile(orgId, file);
    expect(again.code).toBe(3);
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/^rows: 6, imported: 0, skipped: 3, refused: 3$/m);
    for (const line of [2, 4, 7]) {
      expect(again.stdout).toMatch(
        new RegExp(`^skipped line ${line} \\(\\S+\\): a user with this email already exists$`, 'm'),
      );
    }
    expect(again.stdout).toMatch(/^refused line 3 \(bad-email\): .*email/im);
    expect(again.stdout).toMatch(/^refused line 5 \(role@example.com\): role must be one of/m);
    expect(await members(orgId)).toHaveLength(3);
  }, 60_000);

  it('imports a JSON-lines file: unknown columns, malformed lines and duplicates are reported per line', async () => {
    const orgId = await app.fixtures.org('Jsonl Import');
    const file = write('users.jsonl', [
      // A byte-order mark, as some editors save files, is no part of the first line.
      `\uFEFF${JSON.stringify({ email: 'j1@example.com', name: 'Jay One', firstName: 'Jay', jobTitle: 'Pilot' })}`,
      '{"email": "broken@example.com", "name": ',
      JSON.stringify({ email: 'j2@example.com', name: 'Jay Two', shoeSize: 42 }),
      '[1, 2]',
      '',
      JSON.stringify({ email: 'j3@example.com', name: 'Jay Three', role: 'viewer' }),
      JSON.stringify({ email: 'J1@Example.com', name: 'Jay One Again' }),
      JSON.stringify({ email: 'j4@example.com', name: 'x'.repeat(201) }),
      JSON.stringify({ email: 'j5@example.com', name: 'Jay Five', timezone: 'Mars/Olympus' }),
      JSON.stringify({ email: 'j6@example.com', name: 'Jay Six' }),
      JSON.stringify({ email: 'j7@example.com' }),
      JSON.stringify({ name: 'No Email' }),
      JSON.stringify({ email: 'j8@example.com', name: null }),
      JSON.stringify({ email: 'j9@example.com', name: 'Jay Nine' }),
    ]);
    const run = await importFile(orgId, file, '--format', 'jsonl', '--json');
    expect(run.code).toBe(3);
    expect(run.stderr).toBe('');
    const summary = singleJsonObject(run.stdout);
    expect(summary).toMatchObject({ total: 13, imported: 4, skipped: [] });
    expect(summary.refused).toEqual([
      { line: 2, email: null, reason: 'line is not valid JSON' },
      { line: 3, email: 'j2@example.com', reason: 'unknown column(s): shoeSize' },
      { line: 4, email: null, reason: 'line is not a JSON object' },
      // One row per user: a file that names a user twice would change it on every rerun.
      { line: 7, email: 'J1@Example.com', reason: 'the email of line 1 again: one row per user' },
      { line: 8, email: 'j4@example.com', reason: expect.stringMatching(/name/) },
      { line: 9, email: 'j5@example.com', reason: expect.stringMatching(/timezone/) },
      // A row without a required column is refused alone; the rows after it are imported.
      { line: 11, email: 'j7@example.com', reason: 'name is required' },
      { line: 12, email: null, reason: 'email is required' },
      { line: 13, email: 'j8@example.com', reason: 'name is required' },
    ]);
    const imported = await membersByEmail(orgId);
    expect([...imported.keys()].sort()).toEqual([
      'j1@example.com',
      'j3@example.com',
      'j6@example.com',
      'j9@example.com',
    ]);
    expect(imported.get('j1@example.com')).toMatchObject({
      firstName: 'Jay',
      jobTitle: 'Pilot',
    });
    expect(imported.get('j3@example.com')!.role).toBe('viewer');
  }, 60_000);

  it('a CSV row that is hard to read is that row’s refusal, at the line it starts on; a pipe is read once', async () => {
    const orgId = await app.fixtures.org('Awkward Csv');
    const lines = [
      'email,name,jobTitle',
      'quoted@example.com,Dwayne "The Rock" Johnson,Actor',
      'multi@example.com,"Two',
      'Lines",Writer',
      '',
      'after@example.com,After The Break,',
      'closing@example.com,"Closed"early,',
      'unclosed@example.com,"Never closed,',
      'notlost@example.com,Not Lost After The Quote,',
      'last@example.com,Last,',
    ];
    const file = write('awkward.csv', lines);
    const run = await importFile(orgId, file, '--json');
    expect(run.code).toBe(3);
    const summary = singleJsonObject(run.stdout);
    expect(summary).toMatchObject({ total: 7, imported: 4, skipped: [] });
    expect(summary.refused).toEqual([
      // The record that spans lines 3 and 4 is reported at 3 (a name holds no line break).
      { line: 3, email: 'multi@example.com', reason: expect.stringMatching(/name/) },
      // A record that cannot be read is refused at its line, and the rows after it are read as ever.
      { line: 7, email: null, reason: expect.stringMatching(/^not valid CSV: Invalid Closing Quote/) },
      { line: 8, email: null, reason: expect.stringMatching(/^not valid CSV: Quote Not Closed/) },
    ]);
    const imported = await membersByEmail(orgId);
    expect(imported.get('quoted@example.com')!.name).toBe('Dwayne "The Rock" Johnson');
    expect(imported.get('after@example.com')!.name).toBe('After The Break');
    expect(imported.get('notlost@example.com')!.name).toBe('Not Lost After The Quote');
    expect(imported.has('last@example.com')).toBe(true);

    // A named pipe (as /dev/stdin is) can be read once: its rows are imported, not counted away.
    const fifo = path.join(dir, 'rows.fifo');
    execFileSync('mkfifo', [fifo]);
    const writing = fs.promises.writeFile(
      fifo,
      'email,name\npiped@example.com,Piped\nquoted@example.com,Twice\n',
    );
    const piped = await importFile(orgId, fifo, '--format', 'csv', '--json');
    await writing;
    expect(singleJsonObject(piped.stdout)).toMatchObject({
      total: 2,
      imported: 1,
      skipped: [{ line: 3, email: 'quoted@example.com', reason: 'a user with this email already exists' }],
    });

    // An empty or missing name or email is that row's refusal, not the end of its batch.
    const missing = write('missing.csv', [
      'email,name',
      'f1@example.com,F One',
      'f2@example.com,',
      'f3@example.com',
      ',No Email',
      'f4@example.com,F Four',
    ]);
    const partial = await importFile(orgId, missing, '--json');
    expect(partial.code).toBe(3);
    expect(singleJsonObject(partial.stdout)).toMatchObject({
      total: 5,
      imported: 2,
      refused: [
        { line: 3, email: 'f2@example.com', reason: expect.stringMatching(/^name /) },
        { line: 4, email: 'f3@example.com', reason: 'name is required' },
        { line: 5, email: null, reason: 'email is required' },
      ],
    });
    const all = await membersByEmail(orgId);
    expect([all.has('f1@example.com'), all.has('f4@example.com')]).toEqual([true, true]);

    // CRLF line ends (as spreadsheets save) count once, inside quotes too.
    const crlf = path.join(dir, 'crlf.csv');
    fs.writeFileSync(
      crlf,
      'email,name\r\nc1@example.com,"C\r\nOne"\r\nbad,Bad\r\nc2@example.com,"C\nTwo"\r\nc3@example.com,C Three\r\n',
    );
    const crlfRun = await importFile(orgId, crlf, '--json');
    expect(singleJsonObject(crlfRun.stdout)).toMatchObject({
      total: 4,
      imported: 1,
      refused: [
        { line: 2, email: 'c1@example.com' },
        { line: 4, email: 'bad' },
        { line: 5, email: 'c2@example.com' },
      ],
    });

    // A header naming a column twice, or a directory, is refused whole, saying why.
    const twice = await importFile(
      orgId,
      write('twice.csv', ['email,name,email', 'g1@example.com,G,g2@example.com']),
      '--json',
    );
    const folder = await importFile(orgId, dir, '--format', 'csv', '--json');
    expect([twice.code, JSON.parse(twice.stderr).error.message]).toEqual([
      1,
      expect.stringMatching(/header names email more than once/),
    ]);
    expect([folder.code, JSON.parse(folder.stderr).error.message]).toEqual([
      1,
      expect.stringMatching(/is a directory/),
    ]);
    expect((await membersByEmail(orgId)).has('g2@example.com')).toBe(false);
  }, 60_000);

  it('an unknown organization is an error with a message, and nothing is imported', async () => {
    const file = write('orphans.csv', ['email,name', 'orphan@example.com,Orphan']);
    const run = await importFile('org_doesnotexist', file, '--json');
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBe(3);
    expect(run.stdout).toBe('');
    expect(JSON.parse(run.stderr).error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('org_doesnotexist'),
    });
    const found = await app.server.services.db.read((m) =>
      m.query(
        app.server.services.db.dataSource.options.type === 'postgres'
          ? 'SELECT id FROM users WHERE email = $1'
          : 'SELECT id FROM users WHERE email = ?',
        ['orphan@example.com'],
      ),
    );
    expect(found).toEqual([]);
  }, 60_000);

  it('reports progress on stderr every 1000 rows when stderr is not a terminal, and exits 0 when nothing is refused', async () => {
    const orgId = await app.fixtures.org('Bulk Import');
    const rows = Array.from({ length: 1000 }, (_, i) => `bulk${i}@example.com,Bulk ${i}`);
    const file = write('bulk.csv', ['email,name', ...rows]);
    const run = await importFile(orgId, file);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('imported 1000/1000 rows\n');
    expect(run.stdout.trim()).toBe('rows: 1000, imported: 1000, skipped: 0, refused: 0');
    expect(await members(orgId)).toHaveLength(1000);
  }, 120_000);

  it('Ctrl-C stops an import saying where; the committed batches stay, and a rerun imports the rest', async () => {
    const orgId = await app.fixtures.org('Interrupted Import');
    const rows = Array.from({ length: 4000 }, (_, i) => `stop${i}@example.com,Stop ${i}`);
    const file = write('interrupted.csv', ['email,name', ...rows]);
    const started = startProcess(
      'src/cli/main.ts',
      ['user', 'import', '--org', orgId, '--file', file],
      app.server.env,
    );
    await waitForOutput(started, /imported 1000\/4000 rows/);
    started.child.kill('SIGINT');
    expect((await started.exit).code).toBe(130);
    expect(started.output()).toMatch(
      /interrupted after \d+ rows: the batches of 1,000 rows before it are committed/,
    );
    const committed = (await members(orgId)).length;
    expect(committed % 1000).toBe(0);
    expect(committed).toBeGreaterThanOrEqual(1000);
    const rerun = await importFile(orgId, file, '--json');
    expect(singleJsonObject(rerun.stdout)).toMatchObject({ imported: 4000 - committed });
    expect(await members(orgId)).toHaveLength(4000);
  }, 120_000);

  it('--update changes existing users (matched by email in any case) through the update rules, with history; a rerun changes nothing', async () => {
    const orgId = await app.fixtures.org('Update Import');
    const admin = await app.fixtures.user(orgId, { role: Role.ADMIN, email: 'only-admin@example.com' });
    const kept = await app.fixtures.user(orgId, { email: 'kept@example.com', name: 'Kept' });
    await app.fixtures.user(orgId, { email: 'zoned@example.com', name: 'Zoned' });
    const file = write('update.csv', [
      'email,name,jobTitle,role,timezone',
      'KEPT@example.com,Kept Renamed,Editor,,europe/london',
      'new@example.com,Brand New,,,',
      'only-admin@example.com,Only Admin,,member,',
      'zoned@example.com,Zoned,,,Mars/Olympus',
      'kept@example.com,Kept Again,,,',
    ]);
    const first = await importFile(orgId, file, '--update', '--json');
    expect(first.code).toBe(3);
    const summary = singleJsonObject(first.stdout);
    expect(summary).toMatchObject({ total: 5, imported: 1, updated: 1, skipped: [] });
    expect(summary.refused).toEqual([
      { line: 4, email: 'only-admin@example.com', reason: expect.stringMatching(/last active admin/) },
      { line: 5, email: 'zoned@example.com', reason: expect.stringMatching(/timezone/) },
      { line: 6, email: 'kept@example.com', reason: 'the email of line 2 again: one row per user' },
    ]);
    expect(await app.stored(kept.id)).toMatchObject({
      name: 'Kept Renamed',
      jobTitle: 'Editor',
      timezone: 'Europe/London',
      email: 'kept@example.com',
      version: 2,
    });
    expect((await app.stored(admin.id)).role).toBe(Role.ADMIN);
    const history = await app.server.services.db.read((m) =>
      m.getRepository(UserChange).findBy({ userId: kept.id }),
    );
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({
      actorUserId: 'operator',
      changedFields: ['name', 'jobTitle', 'timezone'],
    });

    const again = await importFile(
      orgId,
      write('again.csv', ['email,name,jobTitle', 'kept@example.com,Kept Renamed,Editor']),
      '--update',
    );
    expect(again.code).toBe(0);
    expect(again.stdout.trim().split('\n')).toEqual([
      'rows: 1, imported: 0, updated: 0, skipped: 1, refused: 0',
      'skipped line 2 (kept@example.com): the user already has these values',
    ]);
    expect((await app.stored(kept.id)).version).toBe(2);

    // An update row needs its email only: the other columns are a partial update, name included.
    const partial = await importFile(
      orgId,
      write('partial.csv', ['email,jobTitle', 'kept@example.com,Chief Editor']),
      '--update',
      '--json',
    );
    expect(singleJsonObject(partial.stdout)).toMatchObject({ updated: 1, refused: [] });
    expect(await app.stored(kept.id)).toMatchObject({
      name: 'Kept Renamed',
      jobTitle: 'Chief Editor',
      version: 3,
    });
  }, 60_000);
});

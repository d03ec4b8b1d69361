import fs from 'node:fs';
import path from 'node:path';
import { operatorContext } from '../../src/auth/principal';
import { MailMessage } from '../../src/entities/mail-message.entity';
import { loadConfig } from '../../src/config';
import { Database } from '../../src/db/database';
import { duration } from '../../src/services/email-change';
import { createDataSource } from '../../src/db/data-source';
import { MailOutbox } from '../../src/mail/mail-outbox';
import { MailSender } from '../../src/mail/mail-sender';
import { createMailTransport } from '../../src/mail/mail-transport';
import { createLogger } from '../../src/observability/logger';
import { bearer, gql, useApp } from '../support/harness';
import { pollUntil } from '../support/poll';
import { send } from '../support/http';
import { serverEnv, startProcess, useDatabase, waitForOutput } from '../support/processes';
import { decodeQuotedPrintable, TestSmtpServer } from '../support/smtp';
import { outbox, person, settledOutbox, UPDATE_ME } from './email-support';

describe('verified email changes: an SMTP outage delays mail, never a change, and loses nothing', () => {
  const env: Record<string, string> = {};
  const smtp = new TestSmtpServer();
  beforeAll(async () => {
    // Every attempt fails until the server takes connections again.
    await smtp.start();
    smtp.refusing = true;
    Object.assign(env, { SMTP_URL: smtp.url, MAIL_POLL_INTERVAL_MS: '50', MAIL_RETRY_BASE_MS: '100' });
  });
  afterAll(() => smtp.stop());
  const app = useApp({ env });

  it('every message is sent once the server is back, each exactly once', async () => {
    const people = await Promise.all(Array.from({ length: 5 }, () => person(app)));
    const answers = await Promise.all(
      people.map(({ token }, i) =>
        app.gql(UPDATE_ME, { input: { email: `outage${i}@example.com` } }, bearer(token)),
      ),
    );
    expect(answers.every((res) => res.body.data?.updateMe.pendingEmail)).toBe(true);
    // Tried and failed meanwhile, none lost.
    const waiting = await pollUntil(
      () => outbox(app),
      (rows) => rows.some((row) => row.attempts > 0 && row.lastError),
      { intervalMs: 50 },
    );
    expect(waiting).toHaveLength(10);
    expect(waiting.every((row) => row.state === 'pending')).toBe(true);
    expect(waiting.some((row) => row.attempts > 0 && row.lastError)).toBe(true);

    // A second sender on the same database (as another process would be) races the app's for them.
    const config = loadConfig(app.server.env);
    const dataSource = createDataSource(config);
    await dataSource.initialize();
    const silent = createLogger('silent');
    const other = new MailSender(
      new MailOutbox(new Database(dataSource)),
      createMailTransport(config, silent),
      config.mail,
      silent,
    );
    smtp.refusing = false;
    other.start();
    try {
      for (let i = 0; i < 5; i++) await smtp.waitFor(`outage${i}@example.com`);
      for (const { user } of people) await smtp.waitFor(user.email);
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await other.stop();
      await dataSource.destroy();
    }
    const ids = smtp.messages.map((message) => message.messageId);
    expect(ids).toHaveLength(10);
    expect(new Set(ids).size).toBe(10);
    for (const { user } of people)
      expect((await settledOutbox(app, user.id)).map((row) => row.state)).toEqual(['sent', 'sent']);
  });
});

describe('verified email changes: a message the SMTP server never takes is given up after MAIL_MAX_ATTEMPTS', () => {
  const env: Record<string, string> = {};
  beforeAll(async () => {
    const gone = await new TestSmtpServer().start();
    await gone.stop();
    Object.assign(env, {
      SMTP_URL: gone.url,
      MAIL_POLL_INTERVAL_MS: '20',
      MAIL_RETRY_BASE_MS: '10',
      MAIL_MAX_ATTEMPTS: '3',
    });
  });
  const app = useApp({ env });

  it('three attempts, then failed, its text erased; the change itself stands', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'never.sent@example.com' } }, bearer(token));
    const rows = await pollUntil(
      () => outbox(app),
      (found) => found.every((row) => row.state === 'failed'),
      { intervalMs: 50, failure: (found) => `not given up: ${JSON.stringify(found)}` },
    );
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatchObject({ attempts: 3, text: null, html: null, actionUrl: null, sentAt: null });
      expect(row.lastError).toMatch(/ECONNREFUSED/);
    }
    expect((await app.stored(user.id)).pendingEmail).toBe('never.sent@example.com');
  });
});

describe('verified email changes: with no SMTP server, messages are .eml files and links are logged', () => {
  const lines: string[] = [];
  const app = useApp({
    env: { MAIL_POLL_INTERVAL_MS: '50' },
    appOptions: {
      logger: createLogger('info', { write: (line: string) => lines.push(line) }),
      logError: () => undefined,
    },
  });

  it('the .eml file under DATA_DIR/mail holds the link, which confirms the change', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'from.file@example.com' } }, bearer(token));
    const directory = path.join(app.server.config.dataDir, 'mail');
    await pollUntil(
      () =>
        (fs.existsSync(directory) ? fs.readdirSync(directory) : []).filter((f) => f.endsWith('.eml')).length,
      (written) => written >= 2,
      { failure: () => 'no .eml files written' },
    );
    const files = fs
      .readdirSync(directory)
      .map((file) => fs.readFileSync(path.join(directory, file), 'utf8'));
    const confirmation = files.find((text) => /^To: from\.file@example\.com/m.test(text))!;
    expect(confirmation).toMatch(/^Message-ID: <msg_/m);
    const link = /\/v1\/email-change\/confirm\?token=[A-Za-z0-9_-]{43}/.exec(
      decodeQuotedPrintable(confirmation),
    )![0];
    const logged = lines.map((line) => JSON.parse(line)).find((entry) => entry.link?.includes(link));
    expect(logged).toMatchObject({ level: 30, msg: 'Mail written', to: 'from.file@example.com' });
    expect((await app.send('GET', link, { headers: { accept: 'application/json' } })).status).toBe(200);
    expect((await app.stored(user.id)).email).toBe('from.file@example.com');
  });
});

describe('verified email changes: the server as npm start runs it, with no mail settings', () => {
  const spawned = useDatabase('empty');

  it('the demo admin changes their own email: .eml files under DATA_DIR/mail, the link in the log, and it confirms', async () => {
    const env = {
      ...serverEnv(spawned.database),
      SEED_DEMO_DATA: 'true',
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
    };
    const started = startProcess('src/main.ts', [], env, ['SMTP_URL', 'PUBLIC_URL', 'MAIL_POLL_INTERVAL_MS']);
    const url = (await waitForOutput(started, /users-api listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
    const token = (await waitForOutput(started, /Demo personal access token: (pat_[A-Za-z0-9_-]+)/))[1];
    const res = await gql(url, UPDATE_ME, { input: { email: 'demo.moved@example.com' } }, bearer(token));
    expect(res.body.data.updateMe.pendingEmail).toBe('demo.moved@example.com');
    const logged = await waitForOutput(
      started,
      /"link":"[^"]*?(\/v1\/email-change\/confirm\?token=[A-Za-z0-9_-]{43})"/,
    );
    await waitForOutput(started, /"link":"[^"]*?\/v1\/email-change\/cancel\?token=/);
    const mail = path.join(spawned.database.dataDir, 'mail');
    const files = fs.readdirSync(mail);
    expect(files.filter((file) => file.endsWith('.eml'))).toHaveLength(2);
    // They hold live links: readable by the server's user only.
    expect(fs.statSync(mail).mode & 0o777).toBe(0o700);
    for (const file of files)
      expect([file, fs.statSync(path.join(mail, file)).mode & 0o777]).toEqual([file, 0o600]);
    const confirmed = await send(url, 'GET', logged[1], { headers: { accept: 'application/json' } });
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.email).toBe('demo.moved@example.com');
    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 0, signal: null });
  });
});

describe('the mail outbox: a sender that stalled past its lease', () => {
  const spawned = useDatabase();

  it('cannot set back a message another sender took over and sent', async () => {
    const { services, fixtures } = await spawned.open();
    const { orgId } = await fixtures.orgAdmin('Stalled mail');
    const member = await fixtures.user(orgId);
    // An operator's change of the email queues a notice to the old address.
    await services.users.update(operatorContext(), member.id, { email: 'moved.on@example.com' });
    const [queued] = await services.db.read((m) =>
      m.getRepository(MailMessage).findBy({ userId: member.id }),
    );
    const at = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
    const first = await services.mail.lease(queued.id, at(0), at(60));
    const second = await services.mail.lease(queued.id, at(61), at(121));
    expect([first?.attempts, second?.attempts]).toEqual([1, 2]);
    await services.mail.sent(queued.id, at(62));
    // The first sender's SMTP attempt fails late: stale, it changes nothing.
    await services.mail.notSent(queued.id, 1, 'timed out', at(90));
    const stored = await services.db.read((m) =>
      m.getRepository(MailMessage).findOneByOrFail({ id: queued.id }),
    );
    expect(stored).toMatchObject({ state: 'sent', attempts: 2, lastError: null, text: null });
  });
});

describe('how long a link works, as its message says it', () => {
  it('counts in hours, minutes or seconds, never "0 hours"', () => {
    expect([86400, 5400, 3600, 179, 60, 45].map(duration)).toEqual([
      '24 hours',
      '1.5 hours',
      '1 hour',
      '2 minutes',
      '1 minute',
      '45 seconds',
    ]);
  });
});

import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { pollUntil } from './poll';

/** One message as the SMTP server received it. */
export interface ReceivedMail {
  to: string[];
  messageId: string;
  /** The raw message with quoted-printable soft line breaks and escapes undone. */
  text: string;
  /** The email change link it carries, if any. */
  link: { action: 'confirm' | 'cancel'; url: string; path: string; token: string } | null;
}

const LINK = /https?:\/\/[^\s"<>]+?(\/v1\/email-change\/(confirm|cancel)\?token=([A-Za-z0-9_-]{43}))/;

/** Undoes quoted-printable (nodemailer's choice for mostly-ASCII text) well enough to read links. */
export function decodeQuotedPrintable(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function parse(raw: string, to: string[]): ReceivedMail {
  const text = decodeQuotedPrintable(raw);
  const found = LINK.exec(text);
  return {
    to,
    messageId: /^Message-ID:\s*(\S+)/im.exec(raw)?.[1] ?? '',
    text,
    link: found
      ? { action: found[2] as 'confirm' | 'cancel', url: found[0], path: found[1], token: found[3] }
      : null,
  };
}

/**
 * A real SMTP server in the test process (smtp-server), on loopback, that keeps every message it
 * receives. While `refusing`, it turns every connection away (an outage), keeping its port, which
 * a server stopped and started again could find taken by another suite.
 */
export class TestSmtpServer {
  readonly messages: ReceivedMail[] = [];
  private server: SMTPServer | null = null;
  port = 0;
  refusing = false;

  async start(): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onConnect: (session, callback) =>
        callback(this.refusing ? new Error('Service not available (a test outage)') : undefined),
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
          this.messages.push(parse(Buffer.concat(chunks).toString('utf8'), to));
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** The messages to `address` (in any case) so far. */
  to(address: string): ReceivedMail[] {
    const wanted = address.toLowerCase();
    return this.messages.filter((message) => message.to.some((to) => to.toLowerCase() === wanted));
  }

  /** Waits until `count` messages to `address` have arrived (10 s at most); returns them. */
  async waitFor(address: string, count = 1): Promise<ReceivedMail[]> {
    return pollUntil(
      () => this.to(address),
      (found) => found.length >= count,
      { failure: (found) => `${count} message(s) to ${address} expected; ${found.length} arrived` },
    );
  }
}

/**
 * Gives a suite a running SMTP server, started before the app (register it first) and its URL put in
 * `env.SMTP_URL`, with the mail sender looking often and retrying fast.
 */
export function useSmtp(env: Record<string, string>): TestSmtpServer {
  const smtp = new TestSmtpServer();
  beforeAll(async () => {
    await smtp.start();
    Object.assign(env, { SMTP_URL: smtp.url, MAIL_POLL_INTERVAL_MS: '50', MAIL_RETRY_BASE_MS: '100' });
  });
  afterAll(() => smtp.stop());
  return smtp;
}

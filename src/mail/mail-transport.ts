import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config';
import type { MailMessage } from '../entities/mail-message.entity';
import type { Logger } from '../observability/logger';

/** Delivers one message; throws when it was not delivered. */
export interface MailTransport {
  send(message: MailMessage): Promise<void>;
  close(): void;
}

/** Sends over SMTP (nodemailer), one connection per message, giving up on a silent server after 10 s. */
function smtpTransport(url: string, from: string): MailTransport {
  const transport = nodemailer.createTransport(url, {
    from,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 10_000,
  });
  return {
    async send(message) {
      await transport.sendMail(envelopeOf(message, from));
    },
    close: () => transport.close(),
  };
}

/**
 * Writes each message as an .eml file under `directory` (the embedded default, with no SMTP server):
 * any mail program opens it. In development the message's link is logged too, so `npm start` needs
 * nothing else to confirm a change.
 */
function fileTransport(directory: string, from: string, logger: Logger, logLinks: boolean): MailTransport {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(message) {
      const info = await transport.sendMail(envelopeOf(message, from));
      // The messages hold live confirmation links: for this user's eyes only.
      await fs.promises.mkdir(directory, { recursive: true, mode: 0o700 });
      const file = path.join(directory, `${message.createdAt.replace(/[:.]/g, '-')}-${message.id}.eml`);
      // Written then renamed: a reader never sees half a message.
      await fs.promises.writeFile(`${file}.tmp`, info.message as Buffer, { mode: 0o600 });
      await fs.promises.rename(`${file}.tmp`, file);
      const link = logLinks && message.actionUrl ? { link: message.actionUrl } : {};
      logger.info({ to: message.recipient, subject: message.subject, file, ...link }, 'Mail written');
    },
    close: () => transport.close(),
  };
}

/** The message as nodemailer takes it; its Message-ID is its id, the same on every attempt. */
function envelopeOf(message: MailMessage, from: string): nodemailer.SendMailOptions {
  return {
    from,
    to: message.recipient,
    subject: message.subject,
    text: message.text ?? '',
    html: message.html ?? undefined,
    messageId: `<${message.id}@users-api>`,
    date: new Date(message.createdAt),
  };
}

export function createMailTransport(config: Config, logger: Logger): MailTransport {
  return config.mail.smtpUrl
    ? smtpTransport(config.mail.smtpUrl, config.mail.from)
    : fileTransport(path.join(config.dataDir, 'mail'), config.mail.from, logger, !config.production);
}

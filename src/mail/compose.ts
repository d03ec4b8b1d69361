import { randomId } from '../auth/secrets';
import { type MailKind, MailMessage } from '../entities/mail-message.entity';
import type { User } from '../entities/user.entity';
import { escapeHtml } from '../html';

/** A message to queue in the mail outbox: its lines as text and as HTML, and a link after them if any. */
export function composeMessage(
  kind: MailKind,
  user: User,
  recipient: string,
  subject: string,
  lines: string[],
  link: { url: string; label: string } | null,
  now: string,
): MailMessage {
  const text = [...lines, ...(link ? ['', `${link.label}: ${link.url}`] : [])].join('\n') + '\n';
  const html =
    lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n') +
    (link ? `\n<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>` : '') +
    '\n';
  return Object.assign(new MailMessage(), {
    id: randomId('msg_'),
    kind,
    userId: user.id,
    recipient,
    subject,
    text,
    html,
    actionUrl: link?.url ?? null,
    state: 'pending' as const,
    attempts: 0,
    nextAttemptAt: now,
    leaseUntil: null,
    lastError: null,
    createdAt: now,
    sentAt: null,
  });
}

import crypto from 'node:crypto';
import { hashSecret } from '../auth/secrets';
import type { MailMessage } from '../entities/mail-message.entity';
import type { User } from '../entities/user.entity';
import { composeMessage } from '../mail/compose';

export interface EmailChangeSettings {
  /** Where the links point (Config.mail.publicUrl). */
  publicUrl: string;
  linkTtlSeconds: number;
  /** Confirmation messages per user per hour. */
  maxPerHour: number;
}

/** The columns of a pending email change. */
export type PendingEmailColumns = Pick<
  User,
  'pendingEmail' | 'pendingEmailExpiresAt' | 'emailChangeTokenHash' | 'emailCancelTokenHash'
>;

/** The columns with no change pending: a new change, a confirmation or a cancellation leaves them so. */
export const NO_PENDING_EMAIL: PendingEmailColumns = {
  pendingEmail: null,
  pendingEmailExpiresAt: null,
  emailChangeTokenHash: null,
  emailCancelTokenHash: null,
};

/** The paths of the links; the REST shim serves them (src/rest/email-change.routes.ts). */
export const CONFIRM_PATH = '/v1/email-change/confirm';
export const CANCEL_PATH = '/v1/email-change/cancel';

/** A link token: 256 random bits, stored only as its SHA-256 (hashSecret). */
function newToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Whether `token` could be one of ours (refused before any lookup otherwise). */
export function couldBeToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

export function tokenHash(token: string): string {
  return hashSecret(token);
}

/** A link's lifetime as people read it: "48 hours", "1.5 hours", "1 hour", "20 minutes", "45 seconds". */
export function duration(seconds: number): string {
  const plural = (value: number, unit: string) => `${value} ${unit}${value === 1 ? '' : 's'}`;
  if (seconds >= 3600) return plural(Math.round((seconds / 3600) * 10) / 10, 'hour');
  if (seconds >= 60) return plural(Math.floor(seconds / 60), 'minute');
  return plural(seconds, 'second');
}

/**
 * A user's request to change their own email to `newEmail`: the pending columns (new tokens, so any
 * earlier pending change's links die) and the two messages, a confirmation link to the new address and
 * a notice with a cancel link to the current one.
 */
export function requestEmailChange(
  settings: EmailChangeSettings,
  user: User,
  newEmail: string,
  now: Date,
): { columns: PendingEmailColumns; mail: MailMessage[] } {
  const confirm = newToken();
  const cancel = newToken();
  const at = now.toISOString();
  const expires = new Date(now.getTime() + settings.linkTtlSeconds * 1000).toISOString();
  const confirmUrl = `${settings.publicUrl}${CONFIRM_PATH}?token=${confirm}`;
  const cancelUrl = `${settings.publicUrl}${CANCEL_PATH}?token=${cancel}`;
  return {
    columns: {
      pendingEmail: newEmail,
      pendingEmailExpiresAt: expires,
      emailChangeTokenHash: tokenHash(confirm),
      emailCancelTokenHash: tokenHash(cancel),
    },
    mail: [
      composeMessage(
        'email-change-confirmation',
        user,
        newEmail,
        'Confirm your new email address',
        // This address is not verified yet (a typo reaches someone else): the message names neither the
        // account's current address nor its user.
        [
          'Hello,',
          `You asked to make ${newEmail} the email address of your account.`,
          `Your address changes once you open the link below, within ${duration(settings.linkTtlSeconds)}. Until then, nothing changes.`,
        ],
        { url: confirmUrl, label: 'Confirm this address' },
        at,
      ),
      composeMessage(
        'email-change-notice',
        user,
        user.email,
        'Your account’s email address is about to change',
        [
          `Hello ${user.name},`,
          `Someone signed in to your account asked to change its email address from ${user.email} to ${newEmail}.`,
          `If that was not you, cancel the change with the link below and change your credentials.`,
        ],
        { url: cancelUrl, label: 'Cancel this change' },
        at,
      ),
    ],
  };
}

/** The notice to the old address when an admin (or the operator) changed a user's email at once. */
export function emailChangedNotice(user: User, newEmail: string, now: Date): MailMessage {
  return composeMessage(
    'email-changed-notice',
    user,
    user.email,
    'Your account’s email address was changed',
    [
      `Hello ${user.name},`,
      `An administrator of your organization changed the email address of your account from ${user.email} to ${newEmail}.`,
      `If you did not expect this, contact your organization's administrators.`,
    ],
    null,
    now.toISOString(),
  );
}

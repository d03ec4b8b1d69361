import Ajv2020 from 'ajv/dist/2020';
import { Role } from '../../src/entities/enums';
import { MailMessage } from '../../src/entities/mail-message.entity';
import type { TestApp } from '../support/harness';
import { pollUntil } from '../support/poll';

/** What the email-change suites share: their operations and the helpers that read what was mailed. */

export const PENDING = `id email emailVerified pendingEmail pendingEmailExpiresAt version`;
export const UPDATE_ME = `mutation ($input: UpdateMeInput!, $dryRun: Boolean) {
  updateMe(input: $input, dryRun: $dryRun) { ${PENDING} } }`;
export const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { ${PENDING} } }`;
export const CONFIRM = `mutation ($token: String!) {
  confirmEmailChange(token: $token) { userId email emailVerified pendingEmail version changedFields } }`;
export const USER = `query ($id: ID!) { user(id: $id) { id email pendingEmail pendingEmailExpiresAt } }`;

/** A member of a new organization of `app`'s, with a token; `admin` too when asked. */
export async function person(app: TestApp, orgId?: string, role = Role.MEMBER) {
  const org = orgId ?? (await app.fixtures.org('Mail'));
  const user = await app.fixtures.user(org, { role });
  const { token, id: credentialId } = await app.fixtures.token(user.id);
  return { orgId: org, user, token, credentialId };
}

/** Opens a link over real HTTP as a mail program would (GET), asking for JSON unless `html`. */
export function open(
  app: TestApp,
  link: { path: string },
  html = false,
  headers: Record<string, string> = {},
) {
  return app.send('GET', link.path, {
    headers: { accept: html ? 'text/html,application/xhtml+xml' : 'application/json', ...headers },
  });
}

/** Checks a link's JSON answer against the schema /openapi.json gives it. */
export async function expectServedSchema(app: TestApp, name: string, body: unknown) {
  const document = (await app.send('GET', '/openapi.json')).body;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'served', components: document.components });
  const valid = ajv.validate({ $ref: `served#/components/schemas/${name}` }, body);
  expect(ajv.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
}

export const outbox = (app: TestApp) => app.services.db.read((m) => m.getRepository(MailMessage).find());

/** The user's queued messages once none is still pending (a message arrives before its row says sent). */
export async function settledOutbox(app: TestApp, userId: string): Promise<MailMessage[]> {
  return pollUntil(
    async () => (await outbox(app)).filter((row) => row.userId === userId),
    (rows) => rows.every((row) => row.state !== 'pending'),
    { failure: (rows) => `messages still pending: ${JSON.stringify(rows)}` },
  );
}

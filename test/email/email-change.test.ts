import { CredentialKind, Role } from '../../src/entities/enums';
import { IdempotencyKey } from '../../src/entities/idempotency-key.entity';
import { operatorContext } from '../../src/auth/principal';
import { UserChange } from '../../src/entities/user-change.entity';
import { User } from '../../src/entities/user.entity';
import { expectContractSchema } from '../rest/rest-support';
import { bearer, useApp } from '../support/harness';
import { useSmtp } from '../support/smtp';
import {
  CONFIRM,
  expectServedSchema,
  open,
  outbox,
  person,
  settledOutbox,
  UPDATE_ME,
  UPDATE_USER,
  USER,
} from './email-support';

describe('verified email changes (SMTP)', () => {
  const env: Record<string, string> = { EMAIL_CHANGE_MAX_PER_HOUR: '4' };
  const smtp = useSmtp(env);
  const app = useApp({ env });

  it('users’ own new email waits: the new address gets a confirmation link, the old one a notice; the link applies it', async () => {
    const { user, token, credentialId } = await person(app);
    const res = await app.gql(
      UPDATE_ME,
      { input: { email: 'New.Address@example.com', name: 'Renamed' } },
      bearer(token),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.updateMe).toMatchObject({
      email: user.email,
      pendingEmail: 'New.Address@example.com',
      emailVerified: false,
      version: 2,
    });
    expect(res.body.extensions!.changedFields.updateMe.sort()).toEqual(['name', 'pendingEmail']);
    expect(Date.parse(res.body.data.updateMe.pendingEmailExpiresAt) - Date.now()).toBeGreaterThan(
      23 * 3600_000,
    );

    const [confirmation] = await smtp.waitFor('New.Address@example.com');
    const [notice] = await smtp.waitFor(user.email);
    expect(confirmation.link?.action).toBe('confirm');
    expect(notice.link?.action).toBe('cancel');
    expect(notice.text).toContain('New.Address@example.com');
    // The new address is not verified yet (a typo reaches a stranger): its message names neither the
    // account's address nor its user, and says how long the link works.
    expect(confirmation.text).not.toContain(user.email);
    expect(confirmation.text).not.toContain('Renamed');
    expect(confirmation.text).toContain('within 24 hours');
    // The token is stored only as a hash, and the sent message's text is erased.
    const stored = await app.stored(user.id);
    expect(JSON.stringify(stored)).not.toContain(confirmation.link!.token);
    const rows = await settledOutbox(app, user.id);
    expect(rows.map((row) => [row.state, row.text])).toEqual([
      ['sent', null],
      ['sent', null],
    ]);

    const confirmed = await open(app, confirmation.link!);
    expect(confirmed.status).toBe(200);
    expect(confirmed.headers.get('cache-control')).toBe('no-store');
    expect(confirmed.body).toEqual({
      user_id: user.id,
      email: 'New.Address@example.com',
      email_verified: true,
      pending_email: null,
      version: 3,
      changed_fields: expect.arrayContaining(['email', 'emailVerified', 'pendingEmail']),
    });
    await expectServedSchema(app, 'EmailChangeResult', confirmed.body);
    const after = await app.stored(user.id);
    expect(after).toMatchObject({
      email: 'New.Address@example.com',
      emailLower: 'new.address@example.com',
      emailVerified: true,
      pendingEmail: null,
      emailChangeTokenHash: null,
      emailCancelTokenHash: null,
      version: 3,
    });
    const history = await app.services.db.read((m) =>
      m.getRepository(UserChange).find({ where: { userId: user.id }, order: { seq: 'ASC' } }),
    );
    expect(history.map((entry) => [entry.actorUserId, entry.credentialId, entry.changes])).toEqual([
      [
        user.id,
        credentialId,
        { name: expect.anything(), pendingEmail: { before: null, after: 'New.Address@example.com' } },
      ],
      [
        user.id,
        'email-link',
        {
          email: { before: user.email, after: 'New.Address@example.com' },
          emailVerified: { before: false, after: true },
          pendingEmail: { before: 'New.Address@example.com', after: null },
        },
      ],
    ]);

    // Single use: the same link again changes nothing.
    const again = await open(app, confirmation.link!);
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: 'BAD_USER_INPUT', fields: [{ field: 'token' }] });
    await expectServedSchema(app, 'EmailChangeError', again.body);
    expect((await app.stored(user.id)).version).toBe(3);
  });

  it('a REST endpoint with the user’s own credential answers its documented shape plus pending_email; the page for people says it is done', async () => {
    const { user, token } = await person(app);
    // Document 002 takes API keys and OAuth tokens.
    const { token: apiKey } = await app.fixtures.token(user.id, CredentialKind.API_KEY);
    const res = await app.send('PATCH', `/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${apiKey}` },
      json: { email: 'rest.pending@example.com' },
    });
    expect(res.status).toBe(200);
    expectContractSchema('002', '200', res.body);
    expect(res.body).toMatchObject({ email: user.email, pending_email: 'rest.pending@example.com' });
    const read = await app.send('GET', `/api/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(read.body).toMatchObject({ email: user.email, pendingEmail: 'rest.pending@example.com' });

    const [confirmation] = await smtp.waitFor('rest.pending@example.com');
    const page = await open(app, confirmation.link!, true);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.body).toContain('Email address confirmed');
    expect(page.body).toContain('rest.pending@example.com');
    const after = await app.send('GET', `/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(after.body.email).toBe('rest.pending@example.com');
    expect(after.body).not.toHaveProperty('pending_email');
  });

  it('the cancel link in the notice to the old address ends the change; its confirmation link dies', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'cancel.me@example.com' } }, bearer(token));
    const [notice] = await smtp.waitFor(user.email);
    const [confirmation] = await smtp.waitFor('cancel.me@example.com');
    const page = await open(app, notice.link!, true);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Email change cancelled');
    expect(await app.stored(user.id)).toMatchObject({ email: user.email, pendingEmail: null, version: 3 });
    const late = await open(app, confirmation.link!);
    expect(late.status).toBe(400);
    expect((await app.stored(user.id)).email).toBe(user.email);
  });

  it('cancelling one’s own change without a token needs a write scope, as every other write does', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'kept.pending@example.com' } }, bearer(token));
    const before = await app.stored(user.id);
    const reader = (await app.fixtures.token(user.id, undefined, { scopes: ['users:read'] })).token;
    const refused = await app.gql('mutation { cancelEmailChange { pendingEmail } }', {}, bearer(reader));
    expect(refused.body.errors![0].extensions!.code).toBe('FORBIDDEN');
    const anonymous = await app.gql('mutation { cancelEmailChange { pendingEmail } }', {});
    expect(anonymous.body.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    expect(await app.stored(user.id)).toEqual(before);
    const writer = await app.gql('mutation { cancelEmailChange { pendingEmail } }', {}, bearer(token));
    expect(writer.body.data.cancelEmailChange.pendingEmail).toBeNull();
    expect(writer.body.extensions?.changedFields).toEqual({
      cancelEmailChange: expect.arrayContaining(['pendingEmail']),
    });
  });

  it('a new change replaces the pending one: the earlier link is refused, the new one works', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'first.choice@example.com' } }, bearer(token));
    await app.gql(UPDATE_ME, { input: { email: 'second.choice@example.com' } }, bearer(token));
    const [first] = await smtp.waitFor('first.choice@example.com');
    const [second] = await smtp.waitFor('second.choice@example.com');
    const refused = await open(app, first.link!);
    expect(refused.status).toBe(400);
    expect((await app.stored(user.id)).pendingEmail).toBe('second.choice@example.com');
    expect((await open(app, second.link!)).status).toBe(200);
    expect((await app.stored(user.id)).email).toBe('second.choice@example.com');
  });

  it('an expired link is refused, changes nothing, and the pending address is no longer shown', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'too.late@example.com' } }, bearer(token));
    const [confirmation] = await smtp.waitFor('too.late@example.com');
    await app.services.db.write((m) =>
      m.getRepository(User).update({ id: user.id }, { pendingEmailExpiresAt: '2020-01-01T00:00:00.000Z' }),
    );
    const before = await app.stored(user.id);
    const res = await app.gql(CONFIRM, { token: confirmation.link!.token });
    expect(res.body.errors![0]).toMatchObject({
      message: 'This email change link has expired',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(await app.stored(user.id)).toEqual(before);
    const read = await app.gql(USER, { id: user.id }, bearer(token));
    expect(read.body.data.user).toMatchObject({
      email: user.email,
      pendingEmail: null,
      pendingEmailExpiresAt: null,
    });
  });

  it('a deactivation ends a pending change: its link is refused, then and after the user is active again', async () => {
    const { user, token, orgId } = await person(app);
    const admin = await person(app, orgId, Role.ADMIN);
    await app.gql(UPDATE_ME, { input: { email: 'after.leaving@example.com' } }, bearer(token));
    const [confirmation] = await smtp.waitFor('after.leaving@example.com');
    const deactivated = await app.gql(
      UPDATE_USER,
      { id: user.id, input: { status: 'INACTIVE' } },
      bearer(admin.token),
    );
    expect(deactivated.body.errors).toBeUndefined();
    const before = await app.stored(user.id);
    expect({ pendingEmail: before.pendingEmail, email: before.email }).toEqual({
      pendingEmail: null,
      email: user.email,
    });
    const link = await open(app, confirmation.link!);
    expect([link.status, link.body.error.code]).toEqual([400, 'BAD_USER_INPUT']);
    const res = await app.gql(CONFIRM, { token: confirmation.link!.token });
    expect(res.body.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    expect(await app.stored(user.id)).toEqual(before);
    // Active again, the old link still does nothing.
    await app.gql(UPDATE_USER, { id: user.id, input: { status: 'ACTIVE' } }, bearer(admin.token));
    expect((await open(app, confirmation.link!)).status).toBe(400);
    expect((await app.stored(user.id)).email).toBe(user.email);
    // Nor can a deactivation start one: an admin deactivating themselves cannot change their email with it.
    await person(app, orgId, Role.ADMIN);
    const adminBefore = await app.stored(admin.user.id);
    const both = await app.gql(
      UPDATE_USER,
      { id: admin.user.id, input: { status: 'INACTIVE', email: 'leaving.admin@example.com' } },
      bearer(admin.token),
    );
    expect(both.body.errors![0].extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      fields: [{ field: 'email', message: expect.stringMatching(/deactivates/) }],
    });
    expect(await app.stored(admin.user.id)).toEqual(adminBefore);
  });

  it('unknown, malformed and another user’s tokens are refused and change nothing', async () => {
    const owner = await person(app);
    const other = await person(app, owner.orgId);
    await app.gql(UPDATE_ME, { input: { email: 'owned.address@example.com' } }, bearer(owner.token));
    const [confirmation] = await smtp.waitFor('owned.address@example.com');
    const before = await app.stored(owner.user.id);

    const foreign = await app.gql(CONFIRM, { token: confirmation.link!.token }, bearer(other.token));
    expect(foreign.body.errors![0].extensions!.code).toBe('FORBIDDEN');
    const foreignRest = await open(app, confirmation.link!, false, {
      authorization: `Bearer ${other.token}`,
    });
    expect(foreignRest.status).toBe(403);
    for (const token of ['A'.repeat(43), 'short', `${confirmation.link!.token}x`, '']) {
      const res = await app.send('GET', `/v1/email-change/confirm?token=${encodeURIComponent(token)}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('BAD_USER_INPUT');
    }
    expect((await app.send('GET', '/v1/email-change/confirm')).status).toBe(400);
    expect(await app.stored(owner.user.id)).toEqual(before);
    // With the owner's own credential the link works as without one.
    const own = await app.gql(CONFIRM, { token: confirmation.link!.token }, bearer(owner.token));
    expect(own.body.data.confirmEmailChange.email).toBe('owned.address@example.com');
    // Its changed fields are reported as every mutation's are, in extensions too.
    expect(own.body.extensions?.changedFields).toEqual({
      confirmEmailChange: own.body.data.confirmEmailChange.changedFields,
    });
  });

  it('HEAD on a link (link checkers, mail scanners) applies nothing; the link still works after', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'scanned.link@example.com' } }, bearer(token));
    const [confirmation] = await smtp.waitFor('scanned.link@example.com');
    const before = await app.stored(user.id);
    for (const accept of ['text/html', 'application/json']) {
      const head = await app.send('HEAD', confirmation.link!.path, { headers: { accept } });
      expect([head.status, head.body, head.headers.get('cache-control')]).toEqual([200, '', 'no-store']);
      expect(head.headers.get('content-type')).toContain(accept);
    }
    expect(await app.stored(user.id)).toEqual(before);
    expect((await open(app, confirmation.link!)).status).toBe(200);
    expect((await app.stored(user.id)).email).toBe('scanned.link@example.com');
  });

  it('a link sent with a credential that is not valid answers 401 with its challenge, and changes nothing', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'bad.credential@example.com' } }, bearer(token));
    const [confirmation] = await smtp.waitFor('bad.credential@example.com');
    const before = await app.stored(user.id);
    const refused = await open(app, confirmation.link!, false, { authorization: 'Bearer pat_not-a-token' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="users-api"');
    expect(await app.stored(user.id)).toEqual(before);
  });

  it('two users racing to confirm the same address: exactly one wins, the other gets 409 and keeps its email', async () => {
    const a = await person(app);
    const b = await person(app, a.orgId);
    await app.gql(UPDATE_ME, { input: { email: 'contested@example.com' } }, bearer(a.token));
    await app.gql(UPDATE_ME, { input: { email: 'Contested@Example.com' } }, bearer(b.token));
    const [first, second] = await smtp.waitFor('contested@example.com', 2);
    const results = await Promise.all([open(app, first.link!), open(app, second.link!)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.status === 409)!;
    expect(loser.body.error).toMatchObject({ code: 'CONFLICT', message: 'Email already taken' });
    const rows = [await app.stored(a.user.id), await app.stored(b.user.id)];
    expect(rows.filter((row) => row.emailLower === 'contested@example.com')).toHaveLength(1);
    const kept = rows.find((row) => row.emailLower !== 'contested@example.com')!;
    expect([a.user.email, b.user.email]).toContain(kept.email);
    // The address taken meanwhile is refused at once for a new request too.
    const late = await person(app, a.orgId);
    const res = await app.gql(UPDATE_ME, { input: { email: 'CONTESTED@example.com' } }, bearer(late.token));
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'CONFLICT', field: 'email' });
  });

  it('an admin changing another user’s email applies it at once, unverified, and tells the old address', async () => {
    const admin = await person(app, undefined, Role.ADMIN);
    const member = await person(app, admin.orgId);
    await app.gql(UPDATE_ME, { input: { email: 'member.pending@example.com' } }, bearer(member.token));
    const [pendingLink] = await smtp.waitFor('member.pending@example.com');
    const res = await app.gql(
      UPDATE_USER,
      { id: member.user.id, input: { email: 'by.admin@example.com' } },
      bearer(admin.token),
    );
    expect(res.body.data.updateUser).toMatchObject({
      email: 'by.admin@example.com',
      emailVerified: false,
      pendingEmail: null,
    });
    expect(res.body.extensions!.changedFields.updateUser.sort()).toEqual(['email', 'pendingEmail']);
    const notices = await smtp.waitFor(member.user.email, 2);
    expect(notices[1].link).toBeNull();
    expect(notices[1].text).toContain('by.admin@example.com');
    expect((await open(app, pendingLink.link!)).status).toBe(400);
  });

  it('a capitalisation-only change is the same address: it applies at once, no mail', async () => {
    const { user, token } = await person(app);
    const recased = user.email.replace(/^user/, 'User');
    const res = await app.gql(UPDATE_ME, { input: { email: recased } }, bearer(token));
    expect(res.body.data.updateMe).toMatchObject({ email: recased, pendingEmail: null });
    expect((await outbox(app)).filter((row) => row.userId === user.id)).toEqual([]);
  });

  it('confirmations sent at once are limited per hour too: twelve changes together, four sent', async () => {
    const { user, token } = await person(app);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, n) =>
        app.gql(UPDATE_ME, { input: { email: `together.${n}@example.com` } }, bearer(token)),
      ),
    );
    const codes = answers.map((answer) => answer.body.errors?.[0].extensions?.code ?? 'OK');
    expect(codes.filter((code) => code === 'OK')).toHaveLength(4);
    expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(8);
    const confirmations = (await outbox(app)).filter(
      (row) => row.userId === user.id && row.kind === 'email-change-confirmation',
    );
    expect(confirmations).toHaveLength(4);
    // In one atomic updateUsers as well: the fifth of one's own changes is refused, and with it all.
    const other = await person(app);
    const own = (n: number) => ({ id: other.user.id, input: { email: `atomic.${n}@example.com` } });
    const atomic = await app.gql(
      `mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items, atomic: true) { error { code } } }`,
      { items: [0, 1, 2, 3, 4].map(own) },
      bearer(other.token),
    );
    expect(atomic.body.data.updateUsers.map((item: any) => item.error?.code ?? 'OK')).toEqual([
      'NOT_APPLIED',
      'NOT_APPLIED',
      'NOT_APPLIED',
      'NOT_APPLIED',
      'RATE_LIMITED',
    ]);
    expect((await outbox(app)).filter((row) => row.userId === other.user.id)).toEqual([]);
  });

  it('a keyed confirmation or cancellation whose answer was never stored is answered from what it applied', async () => {
    for (const action of ['confirm', 'cancel'] as const) {
      const { user, token } = await person(app);
      await app.gql(UPDATE_ME, { input: { email: `keyed.${action}@example.com` } }, bearer(token));
      const [message] = await smtp.waitFor(action === 'confirm' ? `keyed.${action}@example.com` : user.email);
      const key = { ...bearer(token), 'idempotency-key': `link-${action}-${user.id}` };
      const mutation = `mutation ($token: String!) {
        ${action}EmailChange(token: $token) { userId email pendingEmail version changedFields } }`;
      const first = await app.gql(mutation, { token: message.link!.token }, key);
      expect(first.body.errors).toBeUndefined();
      // As if the process died after the write's commit, before the answer was stored.
      await app.services.db.write((m) =>
        m
          .getRepository(IdempotencyKey)
          .update(
            { key: key['idempotency-key'] },
            { status: null, responseBody: null, responseHeaders: null },
          ),
      );
      const stored = await app.stored(user.id);
      const retry = await app.gql(mutation, { token: message.link!.token }, key);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(await app.stored(user.id)).toEqual(stored);
    }
  });

  it('POST with the token in a JSON body does what the link does', async () => {
    const { user, token } = await person(app);
    await app.gql(UPDATE_ME, { input: { email: 'posted.token@example.com' } }, bearer(token));
    const [confirmation] = await smtp.waitFor('posted.token@example.com');
    const missing = await app.send('POST', '/v1/email-change/confirm', { json: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error.fields).toEqual([{ field: 'token', message: expect.any(String) }]);
    // Refused as the endpoints refuse them, each changing nothing: another field, another media type, too big.
    const before = await app.stored(user.id);
    const extra = await app.send('POST', '/v1/email-change/confirm', {
      json: { token: confirmation.link!.token, email: 'other@example.com' },
    });
    expect([extra.status, extra.body.error.fields.map((f: { field: string }) => f.field)]).toEqual([
      400,
      ['email'],
    ]);
    const text = await app.send('POST', '/v1/email-change/confirm', {
      headers: { 'content-type': 'text/plain' },
      raw: JSON.stringify({ token: confirmation.link!.token }),
    });
    expect([text.status, text.body.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const large = await app.send('POST', '/v1/email-change/confirm', {
      json: { token: confirmation.link!.token, padding: 'x'.repeat(2_000_000) },
    });
    expect([large.status, large.body.error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    // A token in the query string does not spare a POST's body its checks.
    const query = `/v1/email-change/confirm?token=${encodeURIComponent(confirmation.link!.token)}`;
    const textWithQuery = await app.send('POST', query, {
      headers: { 'content-type': 'text/plain' },
      raw: 'hello=1',
    });
    expect([textWithQuery.status, textWithQuery.body.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    const extraWithQuery = await app.send('POST', query, { json: { email: 'other@example.com' } });
    expect(extraWithQuery.status).toBe(400);
    const twice = await app.send('POST', query, { json: { token: confirmation.link!.token } });
    expect([twice.status, twice.body.error.fields]).toEqual([
      400,
      [{ field: 'token', message: expect.any(String) }],
    ]);
    for (const refused of [extra, text, large, textWithQuery, extraWithQuery, twice])
      await expectServedSchema(app, 'EmailChangeError', refused.body);
    expect(await app.stored(user.id)).toEqual(before);
    const res = await app.send('POST', '/v1/email-change/confirm', {
      json: { token: confirmation.link!.token },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user_id: user.id, email: 'posted.token@example.com' });
  });

  it('another method on a link gets 405 with Allow, in the links’ error shape; OPTIONS 204', async () => {
    for (const path of ['/v1/email-change/confirm', '/v1/email-change/cancel']) {
      const refused = await app.send('DELETE', path);
      expect([refused.status, refused.headers.get('allow'), refused.body.error?.code]).toEqual([
        405,
        'GET, HEAD, POST, OPTIONS',
        'METHOD_NOT_ALLOWED',
      ]);
      await expectServedSchema(app, 'EmailChangeError', refused.body);
      const page = await app.send('PUT', path, { headers: { accept: 'text/html' } });
      expect([page.status, page.headers.get('content-type')]).toEqual([405, 'text/html; charset=utf-8']);
      const options = await app.send('OPTIONS', path);
      expect([options.status, options.headers.get('allow')]).toEqual([204, 'GET, HEAD, POST, OPTIONS']);
    }
  });

  it('only the user and admins see a pending change', async () => {
    const admin = await person(app, undefined, Role.ADMIN);
    const member = await person(app, admin.orgId);
    const colleague = await person(app, admin.orgId);
    await app.gql(UPDATE_ME, { input: { email: 'private.pending@example.com' } }, bearer(member.token));
    const seen = async (token: string) =>
      (await app.gql(USER, { id: member.user.id }, bearer(token))).body.data.user;
    expect((await seen(member.token)).pendingEmail).toBe('private.pending@example.com');
    expect((await seen(admin.token)).pendingEmail).toBe('private.pending@example.com');
    expect(await seen(colleague.token)).toMatchObject({ pendingEmail: null, pendingEmailExpiresAt: null });
  });

  it('a dry run queues no mail; confirmations are limited per hour, resends included (429 with Retry-After)', async () => {
    const { user, token } = await person(app);
    const dry = await app.gql(
      UPDATE_ME,
      { input: { email: 'dry.run@example.com' }, dryRun: true },
      bearer(token),
    );
    expect(dry.body.data.updateMe.pendingEmail).toBe('dry.run@example.com');
    expect((await outbox(app)).filter((row) => row.userId === user.id)).toEqual([]);

    for (let i = 1; i <= 3; i++) {
      const res = await app.gql(UPDATE_ME, { input: { email: `try${i}@example.com` } }, bearer(token));
      expect(res.body.errors).toBeUndefined();
    }
    const resend = await app.gql(
      'mutation { resendEmailChange { pendingEmail version } }',
      {},
      bearer(token),
    );
    expect(resend.body.data.resendEmailChange).toMatchObject({
      pendingEmail: 'try3@example.com',
      version: 5,
    });
    // A real change (new links, a new expiry): it says what changed, and the history records it.
    expect(resend.body.extensions?.changedFields).toEqual({ resendEmailChange: ['pendingEmailExpiresAt'] });
    const [recorded] = (await app.services.history.list(operatorContext(), user.id, 1)).changes;
    expect(recorded.changedFields).toEqual(['pendingEmailExpiresAt']);
    expect(recorded.changes.pendingEmailExpiresAt.after).toBe(
      (await app.stored(user.id)).pendingEmailExpiresAt,
    );
    await smtp.waitFor('try3@example.com', 2);
    const over = await app.send('PATCH', `/api/v1/users/${user.id}`, {
      headers: { authorization: `Bearer ${token}` },
      json: { email: 'one.too.many@example.com' },
    });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(3000);
    const gqlOver = await app.gql('mutation { resendEmailChange { id } }', {}, bearer(token));
    expect(gqlOver.body.errors![0].extensions!.code).toBe('RATE_LIMITED');
    // Over GraphQL too: 429 with Retry-After, as the write budget answers.
    expect(gqlOver.status).toBe(429);
    expect(Number(gqlOver.headers.get('retry-after'))).toBe(
      gqlOver.body.errors![0].extensions!.retryAfterSeconds,
    );
    expect(Number(gqlOver.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect((await app.stored(user.id)).pendingEmail).toBe('try3@example.com');
    // Cancelling needs no budget: the user's own, without a token.
    const cancel = await app.gql('mutation { cancelEmailChange { pendingEmail email } }', {}, bearer(token));
    expect(cancel.body.data.cancelEmailChange).toEqual({ pendingEmail: null, email: user.email });
    const nothing = await app.gql('mutation { cancelEmailChange { pendingEmail } }', {}, bearer(token));
    expect(nothing.body.errors![0].extensions!.code).toBe('CONFLICT');
  });
});

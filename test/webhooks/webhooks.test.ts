import { operatorContext } from '../../src/auth/principal';
import { Role } from '../../src/entities/enums';
import { MailMessage } from '../../src/entities/mail-message.entity';
import { UserEvent } from '../../src/entities/user-event.entity';
import { WebhookDelivery, WebhookEndpoint } from '../../src/entities/webhook.entity';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { retryAfterSeconds, sendWebhook } from '../../src/webhooks/webhook-request';
import { isForbiddenAddress, SOCKETS_PER_RECEIVER, urlProblem } from '../../src/webhooks/webhook-target';
import { bearer, type TestApp, useApp } from '../support/harness';
import { type CliResult, runCli, singleJsonObject } from '../support/processes';
import { pollUntil } from '../support/poll';
import { WebhookReceiver } from '../support/webhook-receiver';

const CREATE = `mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes enabled } } }`;
const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id version } }`;
const ENDPOINTS = `{ webhookEndpoints { id url enabled disabledReason lastSuccessAt } }`;

const FAST = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  EVENT_POLL_INTERVAL_MS: '50',
  WEBHOOK_RETRY_SCHEDULE_MS: '50,100,100,100,100,100,100,100',
};

/** An organization of its own with an admin, a member, and an endpoint sending to a new receiver. */
async function organizationWithEndpoint(app: TestApp, eventTypes?: string[]) {
  const { orgId, admin, adminToken } = await app.fixtures.orgAdmin('Hooks');
  const member = await app.fixtures.user(orgId, { role: Role.MEMBER });
  const receiver = await new WebhookReceiver().start();
  const res = await app.gql(
    CREATE,
    { input: { url: receiver.url, eventTypes, description: 'tests' } },
    bearer(adminToken),
  );
  expect(res.body.errors).toBeUndefined();
  const { secret, endpoint } = res.body.data.createWebhookEndpoint;
  receiver.secrets = [secret];
  return { orgId, admin, adminToken, member, receiver, secret, endpointId: endpoint.id as string };
}

describe('webhooks', () => {
  const app = useApp({ env: FAST });
  const receivers: WebhookReceiver[] = [];
  const setUp = async (eventTypes?: string[]) => {
    const made = await organizationWithEndpoint(app, eventTypes);
    receivers.push(made.receiver);
    return made;
  };
  afterAll(async () => {
    for (const receiver of receivers) await receiver.stop();
  });
  /** Another endpoint of the admin's organization, taking user.updated, sending to a new receiver. */
  const anotherEndpoint = async (adminToken: string) => {
    const receiver = await new WebhookReceiver().start();
    receivers.push(receiver);
    const created = await app.gql(
      CREATE,
      { input: { url: receiver.url, eventTypes: ['user.updated'] } },
      bearer(adminToken),
    );
    receiver.secrets = [created.body.data.createWebhookEndpoint.secret];
    return { receiver, endpointId: created.body.data.createWebhookEndpoint.endpoint.id as string };
  };
  /** The admin's organization's endpoints, once its (only) endpoint is disabled (15 s at most). */
  const disabledEndpoints = async (adminToken: string) => {
    return pollUntil(
      async () => (await app.gql(ENDPOINTS, {}, bearer(adminToken))).body.data.webhookEndpoints,
      (endpoints) => !endpoints[0].enabled,
      { timeoutMs: 15_000, intervalMs: 50, failure: () => 'not disabled' },
    );
  };

  it('admins create endpoints (the whsec_ secret shown once), list and delete them; others cannot', async () => {
    const { adminToken, member, receiver, secret, endpointId } = await setUp();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const listed = await app.gql(ENDPOINTS, {}, bearer(adminToken));
    expect(listed.body.data.webhookEndpoints).toEqual([
      { id: endpointId, url: receiver.url, enabled: true, disabledReason: null, lastSuccessAt: null },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    const memberToken = (await app.fixtures.token(member.id)).token;
    const refused = await app.gql(CREATE, { input: { url: receiver.url } }, bearer(memberToken));
    expect(refused.body.errors![0].extensions!.code).toBe('FORBIDDEN');
    const invalid = await app.gql(
      CREATE,
      { input: { url: 'ftp://x', eventTypes: ['user.exploded'] } },
      bearer(adminToken),
    );
    expect(invalid.body.errors![0].extensions!.fields).toEqual([
      { field: 'url', message: 'url must be an http or https URL' },
      { field: 'eventTypes', message: expect.stringContaining('user.exploded is not one of') },
    ]);
    const deleted = await app.gql(
      'mutation ($id: ID!) { deleteWebhookEndpoint(id: $id) }',
      { id: endpointId },
      bearer(adminToken),
    );
    expect(deleted.body.data.deleteWebhookEndpoint).toBe(true);
    expect((await app.gql(ENDPOINTS, {}, bearer(adminToken))).body.data.webhookEndpoints).toEqual([]);
  });

  it('refuses what an endpoint cannot hold, naming the field: a null url or enabled, control characters; an impossible id is not found', async () => {
    const { adminToken, endpointId, receiver } = await setUp();
    const update = (input: Record<string, unknown>, id = endpointId) =>
      app.gql(
        'mutation ($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { url enabled description } }',
        { id, input },
        bearer(adminToken),
      );
    for (const [input, field] of [
      [{ url: null }, 'url'],
      [{ enabled: null }, 'enabled'],
      [{ description: 'a\u0000b' }, 'description'],
      [{ description: 'a\u202eb' }, 'description'],
      [{ url: `${receiver.url}/a\u0000b` }, 'url'],
    ] as const) {
      const res = await update(input);
      expect({
        input,
        code: res.body.errors?.[0].extensions?.code,
        fields: res.body.errors?.[0].extensions?.fields,
      }).toEqual({
        input,
        code: 'BAD_USER_INPUT',
        fields: [{ field, message: expect.any(String) }],
      });
    }
    const created = await app.gql(
      CREATE,
      { input: { url: receiver.url, description: 'x\u0007' } },
      bearer(adminToken),
    );
    expect(created.body.errors?.[0].extensions?.fields).toEqual([
      { field: 'description', message: expect.any(String) },
    ]);
    for (const id of ['whe_\u0000', 'x'.repeat(65)]) {
      const res = await update({ enabled: false }, id);
      expect({ id, code: res.body.errors?.[0].extensions?.code }).toEqual({ id, code: 'NOT_FOUND' });
    }
    const deliveries = await app.gql(
      'query ($id: ID!) { webhookDeliveries(endpointId: $id) { nodes { id } } }',
      { id: 'whe_\u0000' },
      bearer(adminToken),
    );
    expect(deliveries.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    const listed = await app.gql(ENDPOINTS, {}, bearer(adminToken));
    expect(listed.body.data.webhookEndpoints).toEqual([
      expect.objectContaining({ url: receiver.url, enabled: true }),
    ]);
  });

  it('every committed change reaches the receiver signed, with its before and after; a refused one sends nothing', async () => {
    const { adminToken, admin, member, receiver } = await setUp([
      'user.updated',
      'user.deactivated',
      'user.reactivated',
    ]);
    await app.gql(
      UPDATE_USER,
      { id: member.id, input: { jobTitle: 'Engineer', role: 'ADMIN' } },
      bearer(adminToken),
    );
    // Refused (not an email), so no event.
    await app.gql(UPDATE_USER, { id: member.id, input: { email: 'nope' } }, bearer(adminToken));
    const rest = await app.send('PATCH', `/api/v1/users/${member.id}`, {
      headers: { authorization: `Bearer ${adminToken}` },
      json: { name: 'Over REST' },
    });
    expect(rest.status).toBe(200);
    await app.gql(UPDATE_USER, { id: member.id, input: { status: 'INACTIVE' } }, bearer(adminToken));
    await app.gql(
      'mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items) { error { code } } }',
      { items: [{ id: member.id, input: { status: 'ACTIVE' } }] },
      bearer(adminToken),
    );
    const received = await receiver.waitUntil((r) => r.length >= 4, 'four events');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.received).toHaveLength(4);
    expect(received.every((r) => r.verified)).toBe(true);
    expect(received.map((r) => [r.payload.type, r.payload.user.version])).toEqual([
      ['user.updated', 2],
      ['user.updated', 3],
      ['user.deactivated', 4],
      ['user.reactivated', 5],
    ]);
    const [first] = received;
    expect(first.id).toBe(first.payload.id);
    expect(first.payload).toEqual({
      id: expect.stringMatching(/^evt_/),
      type: 'user.updated',
      occurredAt: expect.any(String),
      organizationId: member.organizationId,
      user: expect.objectContaining({
        id: member.id,
        numericId: member.numericId,
        version: 2,
        role: 'ADMIN',
        jobTitle: 'Engineer',
      }),
      changes: { jobTitle: { before: null, after: 'Engineer' }, role: { before: 'MEMBER', after: 'ADMIN' } },
      actor: { userId: admin.id, credentialId: expect.stringMatching(/^cred_|^[A-Za-z0-9_-]+$/) },
      requestId: expect.any(String),
    });
    expect(JSON.stringify(first.payload)).not.toMatch(/secret|token|hash/i);
    // The event row was written with the change, and marked sent to the endpoints.
    const rows = await app.services.db.read((m) => m.getRepository(UserEvent).findBy({ userId: member.id }));
    expect(rows.map((row) => row.userVersion).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(rows.every((row) => row.dispatched)).toBe(true);
  });

  it('an organization without an enabled endpoint: its events are written already dispatched (nothing to send)', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Quiet');
    const member = await app.fixtures.user(orgId);
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Unheard' } }, bearer(adminToken));
    const rows = await app.services.db.read((m) => m.getRepository(UserEvent).findBy({ userId: member.id }));
    expect(rows.map((row) => [row.type, row.dispatched])).toEqual([
      ['user.created', true],
      ['user.updated', true],
    ]);
  });

  it('an endpoint gets the events of changes made after it was created, however late they are dispatched', async () => {
    const { adminToken, member, receiver: first } = await setUp(['user.updated']);
    const { receiver: later, endpointId: laterId } = await anotherEndpoint(adminToken);
    const createdAt = async (at: string) =>
      app.services.db.write((m) =>
        m.getRepository(WebhookEndpoint).update({ id: laterId }, { createdAt: at }),
      );
    // As if the endpoint had been created after this change was made (and before it was dispatched).
    await createdAt(new Date(Date.now() + 60_000).toISOString());
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Before it' } }, bearer(adminToken));
    await first.waitUntil((r) => r.length >= 1, 'the change at the first endpoint');
    await createdAt(new Date(Date.now() - 60_000).toISOString());
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'After it' } }, bearer(adminToken));
    await later.waitUntil((r) => r.length >= 1, 'the later change');
    await first.waitUntil((r) => r.length >= 2, 'both changes at the first endpoint');
    expect(later.received.map((r) => r.payload.user.jobTitle)).toEqual(['After it']);
  });

  it('new users are user.created; an endpoint gets only the event types it asked for', async () => {
    const { orgId, receiver } = await setUp(['user.created']);
    const created = await app.fixtures.user(orgId, { name: 'Newcomer' });
    await app.services.users.update(operatorContext(), created.id, { jobTitle: 'x' });
    const received = await receiver.waitUntil(
      (r) => r.some((x) => x.payload.user.id === created.id),
      'the created event',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The organization's earlier users were created before the endpoint: theirs do not come, however late
    // they are dispatched.
    expect(receiver.received.map((r) => r.payload.type)).toEqual(receiver.received.map(() => 'user.created'));
    const event = received.find((r) => r.payload.user.id === created.id)!;
    expect(event.payload).toMatchObject({
      type: 'user.created',
      user: { id: created.id, numericId: created.numericId, version: 1, name: 'Newcomer' },
      changes: expect.objectContaining({ name: { before: null, after: 'Newcomer' } }),
      actor: { userId: 'operator', credentialId: 'operator' },
    });
  });

  it('64 concurrent writers to one user: the receiver gets the events in strict version order', async () => {
    const { adminToken, member, receiver } = await setUp(['user.updated']);
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: `Writer ${i}` } }, bearer(adminToken)),
      ),
    );
    expect(answers.every((res) => !res.body.errors)).toBe(true);
    const received = await receiver.waitUntil((r) => r.length >= 64, '64 events');
    expect(received.map((r) => r.payload.user.version)).toEqual(Array.from({ length: 64 }, (_, i) => i + 2));
    expect(received.every((r) => r.verified)).toBe(true);
  });

  it('a receiver that fails, then recovers, gets everything in order; webhook-id stays the same across retries', async () => {
    const { adminToken, member, receiver, endpointId } = await setUp(['user.updated']);
    let failing = true;
    receiver.answer = () => (failing ? 500 : 200);
    // Each retry waits a second at least: the schedule's 0.8 s in all would give up (and disable the
    // endpoint) before a busy machine gets through the checks below.
    receiver.answerHeaders = { 'retry-after': '1' };
    for (let i = 0; i < 5; i++)
      await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: `Retry ${i}` } }, bearer(adminToken));
    await receiver.waitUntil((r) => r.length >= 3, 'failed attempts');
    // Only the first event was tried: the others wait behind it.
    expect(new Set(receiver.ids()).size).toBe(1);
    const deliveries = await app.gql(
      '{ webhookDeliveries(endpointId: "' +
        endpointId +
        '") { nodes { status attempts lastResponseCode nextAttemptAt } } }',
      {},
      bearer(adminToken),
    );
    const oldest = deliveries.body.data.webhookDeliveries.nodes.at(-1);
    expect(oldest).toMatchObject({ status: 'PENDING', lastResponseCode: 500 });
    expect(oldest.attempts).toBeGreaterThanOrEqual(2);
    failing = false;
    receiver.answerHeaders = {};
    await receiver.waitUntil(
      (r) =>
        new Set(r.filter((x) => x.payload).map((x) => x.id)).size >= 5 &&
        r.at(-1)!.payload.user.version === 6,
      'all five',
    );
    const firstSeen: string[] = [];
    for (const id of receiver.ids()) if (!firstSeen.includes(id)) firstSeen.push(id);
    const versions = firstSeen.map((id) => receiver.received.find((r) => r.id === id)!.payload.user.version);
    expect(versions).toEqual([2, 3, 4, 5, 6]);
    expect(receiver.received.every((r) => r.verified)).toBe(true);
  });

  it('a receiver that is down holds up only its own lines: each user’s first event there waits, the other endpoint gets everything', async () => {
    const { orgId, adminToken, receiver: down } = await setUp(['user.updated']);
    down.answer = () => 500;
    // Each retry waits a second at least, so that the endpoint is not given up before it recovers.
    down.answerHeaders = { 'retry-after': '1' };
    const { receiver: up } = await anotherEndpoint(adminToken);
    const users = await Promise.all([1, 2, 3].map(() => app.fixtures.user(orgId, { role: Role.MEMBER })));
    for (let i = 0; i < 4; i++)
      await Promise.all(
        users.map((user) =>
          app.gql(UPDATE_USER, { id: user.id, input: { jobTitle: `Line ${i}` } }, bearer(adminToken)),
        ),
      );
    await up.waitUntil((r) => r.length >= 12, 'twelve events at the working endpoint');
    for (const user of users)
      expect(
        up.received.filter((r) => r.payload.user.id === user.id).map((r) => r.payload.user.version),
      ).toEqual([2, 3, 4, 5]);
    await down.waitUntil(
      (r) => new Set(r.map((x) => x.payload.user.id)).size === 3 && r.length >= 6,
      'retries',
    );
    // At the failing endpoint only the first event of each user's line has been tried.
    expect(down.received.every((r) => r.payload.user.version === 2)).toBe(true);
    down.answer = () => 204;
    down.answerHeaders = {};
    await down.waitUntil((r) => new Set(r.map((x) => x.id)).size >= 12, 'the lines once it recovers');
    for (const user of users) {
      const versions = down.received
        .filter((r) => r.payload.user.id === user.id)
        .map((r) => r.payload.user.version);
      expect([...new Set(versions)]).toEqual([2, 3, 4, 5]);
    }
    expect([...down.received, ...up.received].every((r) => r.verified)).toBe(true);
  });

  it('a rotated secret: the old one keeps signing alongside the new one', async () => {
    const { adminToken, member, receiver, endpointId, secret } = await setUp(['user.updated']);
    const rotated = await app.gql(
      'mutation ($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }',
      { id: endpointId },
      bearer(adminToken),
    );
    const { secret: next, endpoint } = rotated.body.data.rotateWebhookSecret;
    expect(next).not.toBe(secret);
    expect(Date.parse(endpoint.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    receiver.secrets = [secret];
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Old secret' } }, bearer(adminToken));
    const [event] = await receiver.waitUntil((r) => r.length >= 1, 'one event');
    expect(event.verified).toBe(true);
    expect(event.signatures).toHaveLength(2);
    receiver.secrets = [next];
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'New secret' } }, bearer(adminToken));
    const received = await receiver.waitUntil((r) => r.length >= 2, 'two events');
    expect(received[1].verified).toBe(true);
  });

  it('rotated twice within a day: the first secret keeps signing too, alongside the second and the new one', async () => {
    const { adminToken, member, receiver, endpointId, secret: first } = await setUp(['user.updated']);
    const rotate = async () =>
      (
        await app.gql(
          'mutation ($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }',
          { id: endpointId },
          bearer(adminToken),
        )
      ).body.data.rotateWebhookSecret;
    const { secret: second } = await rotate();
    const { secret: third, endpoint } = await rotate();
    expect(new Set([first, second, third]).size).toBe(3);
    expect(Date.parse(endpoint.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    for (const [index, key] of [first, second, third].entries()) {
      receiver.secrets = [key];
      await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: `Key ${index}` } }, bearer(adminToken));
      const received = await receiver.waitUntil((r) => r.length > index, `event ${index + 1}`);
      expect(received[index]).toMatchObject({ verified: true, signatures: expect.any(Array) });
      expect(received[index].signatures).toHaveLength(3);
    }
  });

  it('replays past events in order; deliveries list what was sent', async () => {
    const { adminToken, member, receiver, endpointId } = await setUp(['user.updated']);
    const since = new Date().toISOString();
    for (let i = 0; i < 3; i++)
      await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: `Replay ${i}` } }, bearer(adminToken));
    await receiver.waitUntil((r) => r.length >= 3, 'three events');
    const replay = await app.gql(
      'mutation ($id: ID!, $since: DateTimeISO!) { replayWebhookEvents(endpointId: $id, since: $since) }',
      { id: endpointId, since },
      bearer(adminToken),
    );
    expect(replay.body.data.replayWebhookEvents).toBe(3);
    const received = await receiver.waitUntil((r) => r.length >= 6, 'six events');
    expect(received.map((r) => r.payload.user.version)).toEqual([2, 3, 4, 2, 3, 4]);
    expect(received.slice(3).map((r) => r.id)).toEqual(received.slice(0, 3).map((r) => r.id));
    const page = await app.gql(
      '{ webhookDeliveries(endpointId: "' +
        endpointId +
        '", first: 4) { nodes { status } pageInfo { hasNextPage } } }',
      {},
      bearer(adminToken),
    );
    expect(page.body.data.webhookDeliveries.nodes).toHaveLength(4);
    expect(page.body.data.webhookDeliveries.pageInfo.hasNextPage).toBe(true);
  });

  it('an endpoint failing every delivery through the whole schedule is disabled, and says why; redirects are not followed', async () => {
    const { adminToken, member, receiver } = await setUp(['user.updated']);
    receiver.answer = () => 302;
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Doomed' } }, bearer(adminToken));
    const endpoints = await disabledEndpoints(adminToken);
    expect(endpoints[0].disabledReason).toMatch(/^Every delivery failed from .* \(last: HTTP 302\)/);
    // Nine attempts (the first and eight retries), none followed to the redirect's target.
    expect(receiver.received).toHaveLength(9);
  });

  it('a receiver that answers 410 Gone gets no more: its endpoint is disabled at once, saying why, and admins are told by mail', async () => {
    const { adminToken, admin, member, receiver, endpointId } = await setUp(['user.updated']);
    receiver.answer = () => 410;
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Gone 1' } }, bearer(adminToken));
    await receiver.waitUntil((r) => r.length >= 1, 'the first attempt');
    const endpoints = await disabledEndpoints(adminToken);
    expect(endpoints[0].disabledReason).toMatch(
      /^The receiver answered 410 Gone at .*: it asked for no more deliveries/,
    );
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Gone 2' } }, bearer(adminToken));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(1);
    const notices = await app.services.db.read((m) =>
      m.getRepository(MailMessage).findBy({ kind: 'webhook-endpoint-disabled' }),
    );
    const notice = notices.filter((mail) => mail.userId === admin.id);
    expect(notice).toHaveLength(1);
    expect(notice[0]).toMatchObject({
      recipient: admin.email,
      subject: 'A webhook endpoint of your organization was disabled',
    });
    expect(notices.filter((mail) => mail.userId === member.id)).toEqual([]);
    // Enabled again, it gets the changes made from then on.
    receiver.answer = () => 204;
    await app.gql(
      'mutation ($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: true }) { enabled } }',
      { id: endpointId },
      bearer(adminToken),
    );
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Back' } }, bearer(adminToken));
    const received = await receiver.waitUntil((r) => r.length >= 2, 'the change after enabling');
    expect(received[1].payload.user.version).toBe(4);
  });

  it("a receiver's Retry-After postpones the retry (beyond the schedule's 50 ms)", async () => {
    const { adminToken, member, receiver } = await setUp(['user.updated']);
    receiver.answer = () => (receiver.received.length === 0 ? 503 : 204);
    receiver.answerHeaders = { 'retry-after': '2' };
    await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'Later, please' } }, bearer(adminToken));
    const [first, retry] = await receiver.waitUntil((r) => r.length >= 2, 'the retry');
    expect(retry.id).toBe(first.id);
    expect(retry.at - first.at).toBeGreaterThanOrEqual(1900);
  });
});

describe('webhooks: which URLs an endpoint may have', () => {
  it('in production only https, unless private receivers are allowed; never credentials in the URL', () => {
    const production = { allowPrivate: false, httpsOnly: true };
    expect(urlProblem('http://hooks.example.com/x', production)).toBe('url must be an https URL');
    expect(urlProblem('https://hooks.example.com/x', production)).toBeNull();
    expect(urlProblem('http://hooks.internal:8080/x', { allowPrivate: true, httpsOnly: true })).toBeNull();
    expect(urlProblem('https://user:pw@hooks.example.com/', production)).toBe(
      'url must not carry a user name or password',
    );
    expect(urlProblem('https://[::ffff:127.0.0.1]/', production)).toMatch(/loopback, private/);
    expect(urlProblem('https://100.100.100.200/', production)).toMatch(/loopback, private/);
    expect(urlProblem('not a url', production)).toBe('url must be an absolute URL');
  });

  it('public addresses are reachable, IPv4 ones too; every form of a forbidden address is refused', () => {
    const production = { allowPrivate: false, httpsOnly: true };
    expect(urlProblem('https://93.184.216.34/hook', production)).toBeNull();
    expect(urlProblem('https://[2606:4700::1111]/hook', production)).toBeNull();
    for (const address of ['8.8.8.8', '93.184.216.34', '::ffff:8.8.8.8', '::ffff:808:808', '2606:4700::1111'])
      expect([address, isForbiddenAddress(address)]).toEqual([address, false]);
    const forbidden = [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:a9fe:a9fe',
      '::127.0.0.1',
      '::ffff:0:a9fe:a9fe',
      '64:ff9b::a9fe:a9fe',
      '64:ff9b:1::1',
      '2002:7f00:1::1',
      'fc00::1',
      'fe80::1',
      'ff02::1',
      'not an address',
    ];
    for (const address of forbidden) expect([address, isForbiddenAddress(address)]).toEqual([address, true]);
  });
});

describe('webhooks: requests to one receiver', () => {
  it('reads Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds('120', now)).toBe(120);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
    expect(retryAfterSeconds(undefined, now)).toBeUndefined();
  });

  it('at most SOCKETS_PER_RECEIVER at once; the timeout counts from when a request goes out, not while it waits', async () => {
    let inFlight = 0;
    let most = 0;
    const server = http.createServer((req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      req.resume();
      setTimeout(() => {
        inFlight--;
        res.statusCode = 204;
        res.end();
      }, 800);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
      const options = { allowPrivate: true, httpsOnly: false, timeoutMs: 2000 };
      // Four waves of 800 ms: the last ones wait 2,400 ms for a place, longer than the timeout, then
      // are answered in time. Each side of the timeout has 1,200 ms to spare on a busy machine.
      const answers = await Promise.all(
        Array.from({ length: 4 * SOCKETS_PER_RECEIVER }, (_, i) =>
          sendWebhook(url, { id: `evt_${i}`, payload: '{}' }, ['whsec_c2VjcmV0'], options),
        ),
      );
      expect(answers.filter((answer) => !('status' in answer) || answer.status !== 204)).toEqual([]);
      expect(most).toBe(SOCKETS_PER_RECEIVER);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('webhooks: server-side request forgery', () => {
  const app = useApp({ env: { EVENT_POLL_INTERVAL_MS: '50', WEBHOOK_RETRY_SCHEDULE_MS: '50' } });

  it('refuses private addresses: literal ones when the endpoint is made, resolved ones when connecting', async () => {
    const { adminToken, orgId } = await app.fixtures.orgAdmin('Forgery');
    for (const url of [
      'http://127.0.0.1:9/x',
      'http://[::1]/x',
      'http://169.254.169.254/latest',
      'http://10.1.2.3/',
    ]) {
      const res = await app.gql(CREATE, { input: { url } }, bearer(adminToken));
      expect(res.body.errors![0].extensions!.fields).toEqual([
        {
          field: 'url',
          message: 'url must not point at a loopback, private, link-local or metadata address',
        },
      ]);
    }
    const receiver = await new WebhookReceiver().start();
    try {
      const byName = receiver.url.replace('127.0.0.1', 'localhost');
      const res = await app.gql(CREATE, { input: { url: byName } }, bearer(adminToken));
      expect(res.body.errors).toBeUndefined();
      const member = await app.fixtures.user(orgId);
      await app.gql(UPDATE_USER, { id: member.id, input: { jobTitle: 'x' } }, bearer(adminToken));
      const endpointId = res.body.data.createWebhookEndpoint.endpoint.id;
      const nodes: any[] = await pollUntil(
        async () =>
          (
            await app.gql(
              `{ webhookDeliveries(endpointId: "${endpointId}") { nodes { status lastError } } }`,
              {},
              bearer(adminToken),
            )
          ).body.data.webhookDeliveries.nodes,
        (found: any[]) => found.some((node) => node.status === 'FAILED'),
        { intervalMs: 50, failure: () => 'no failed delivery' },
      );
      // Saying why, but not where the name points.
      const { lastError } = nodes.find((node) => node.status === 'FAILED');
      expect(lastError).toMatch(/localhost resolves to a forbidden address/);
      expect(lastError).not.toMatch(/127\.0\.0\.1|::1/);
      expect(receiver.received).toEqual([]);
    } finally {
      await receiver.stop();
    }
  });
});

describe('webhooks: the operator CLI', () => {
  const app = useApp({ env: FAST });
  const cli = (...args: string[]) => runCli(app.server.env, ...args);
  const json = (result: CliResult) => {
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return singleJsonObject(result.stdout);
  };

  it('webhook create, list, deliveries, replay, rotate and delete; a user the CLI creates reaches the receiver', async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const orgId = await app.fixtures.org('CLI hooks');
      const create = (events: string) =>
        cli('webhook', 'create', '--org', orgId, '--url', receiver.url, '--events', events, '--json');
      const created = json(await create('user.created'));
      expect(created).toMatchObject({
        id: expect.stringMatching(/^whe_/),
        url: receiver.url,
        eventTypes: ['user.created'],
      });
      receiver.secrets = [created.secret];
      const user = json(
        await cli(
          'user',
          'create',
          '--org',
          orgId,
          '--email',
          'hooked@example.com',
          '--name',
          'Hooked',
          '--json',
        ),
      );
      const [event] = await receiver.waitUntil((r) => r.length >= 1, 'the created event');
      expect(event).toMatchObject({
        verified: true,
        payload: { type: 'user.created', user: { id: user.id } },
      });

      // An empty event type is refused: it would have meant every type.
      const empty = await create(',');
      expect([empty.code, JSON.parse(empty.stderr).error.message]).toEqual([
        2,
        expect.stringMatching(/empty event type/),
      ]);
      const listed = json(await cli('webhook', 'list', '--org', orgId, '--json'));
      expect(listed.endpoints).toEqual([expect.objectContaining({ id: created.id, enabled: true })]);
      expect(JSON.stringify(listed)).not.toContain(created.secret);
      const deliveries = await pollUntil(
        async () => json(await cli('webhook', 'deliveries', created.id, '--org', orgId, '--json')),
        (listed) => listed.deliveries[0]?.status === 'delivered',
        { timeoutMs: 5000, intervalMs: 0 },
      );
      expect(deliveries.deliveries).toEqual([
        expect.objectContaining({
          eventId: event.id,
          status: 'delivered',
          attempts: 1,
          lastResponseCode: 204,
        }),
      ]);
      const replayed = json(
        await cli(
          'webhook',
          'replay',
          created.id,
          '--org',
          orgId,
          '--since',
          '2000-01-01T00:00:00Z',
          '--json',
        ),
      );
      expect(replayed.queued).toBe(1);
      await receiver.waitUntil((r) => r.length >= 2, 'the replay');
      expect(receiver.received[1].id).toBe(event.id);
      const rotated = json(await cli('webhook', 'rotate', created.id, '--org', orgId, '--json'));
      expect(rotated.secret).toMatch(/^whsec_/);
      expect(json(await cli('webhook', 'delete', created.id, '--org', orgId, '--json'))).toEqual({
        id: created.id,
        deleted: true,
      });
      expect(json(await cli('webhook', 'list', '--org', orgId, '--json')).endpoints).toEqual([]);
      const foreign = await cli('webhook', 'delete', created.id, '--org', orgId, '--json');
      expect(foreign.code).toBe(1);
    } finally {
      await receiver.stop();
    }
  });
});

describe('webhooks: leases as long as a round takes', () => {
  const app = useApp({ env: { ...FAST, WEBHOOK_TIMEOUT_MS: '1000', BULK_UPDATE_MAX_ITEMS: '150' } });

  it('new events to several endpoints of one receiver stay leased until the round’s last wave is answered', async () => {
    const { orgId, adminToken } = await app.fixtures.orgAdmin('Waves');
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const path of ['/a', '/b', '/c'])
        expect(
          (await app.gql(CREATE, { input: { url: url + path } }, bearer(adminToken))).body.errors,
        ).toBeUndefined();
      // 150 events to 3 endpoints of one receiver: 450 requests, 64 at a time, 8 waves of up to 1 s.
      const users = await Promise.all(Array.from({ length: 150 }, () => app.fixtures.user(orgId)));
      // One transaction (atomic), so that one round takes all 150 events.
      const bulk =
        'mutation ($items: [UpdateUsersItem!]!) { updateUsers(items: $items, atomic: true) { changedFields } }';
      const items = users.map((user) => ({ id: user.id, input: { jobTitle: 'Waved' } }));
      expect((await app.gql(bulk, { items }, bearer(adminToken))).body.errors).toBeUndefined();
      await pollUntil(
        async () => held.length,
        (count) => count >= SOCKETS_PER_RECEIVER,
        { failure: () => `${held.length} requests arrived` },
      );
      // How long each delivery still leased was leased for, from when it was queued (the round's start).
      const leases = await app.server.services.db.read((m) =>
        m
          .getRepository(WebhookDelivery)
          .createQueryBuilder('d')
          .select('d.lease_until', 'until')
          .addSelect('d.created_at', 'queued')
          .where("d.state = 'pending' AND d.lease_until IS NOT NULL")
          .getRawMany<{ until: string; queued: string }>(),
      );
      // Those the receiver has not answered within the timeout yet (the others are settled, unleased).
      expect(leases.length).toBeGreaterThan(300);
      // A round of more than 256 of them (5 waves of 1 s or more, and 5 s to spare) holds every one of them
      // 10 s or more; 4 waves (PARALLEL requests' worth) would be 9 s.
      const shortest = Math.min(...leases.map((lease) => Date.parse(lease.until) - Date.parse(lease.queued)));
      expect(shortest).toBeGreaterThanOrEqual(10_000);
    } finally {
      server.on('request', (_req, res) => res.writeHead(204).end());
      for (const res of held.splice(0)) res.writeHead(204).end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

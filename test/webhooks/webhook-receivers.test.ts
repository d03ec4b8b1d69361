import { MailMessage } from '../../src/entities/mail-message.entity';
import { Role } from '../../src/entities/enums';
import { bearer, useApp } from '../support/harness';
import { FAST, UPDATE_USER, useWebhookOrganizations } from './webhook-support';

describe('webhooks: receivers that fail, are down or push back', () => {
  const app = useApp({ env: FAST });
  const { setUp, anotherEndpoint, disabledEndpoints } = useWebhookOrganizations(app);

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

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookDelivery } from '../../src/entities/webhook.entity';
import { retryAfterSeconds, sendWebhook } from '../../src/webhooks/webhook-request';
import { SOCKETS_PER_RECEIVER } from '../../src/webhooks/webhook-target';
import { bearer, useApp } from '../support/harness';
import { pollUntil } from '../support/poll';
import { CREATE, FAST } from './webhook-support';

/** How many requests go to one receiver at once, and how long what is sent stays leased. */
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

import { operatorContext } from '../../src/auth/principal';
import { WebhookDelivery, WebhookEndpoint } from '../../src/entities/webhook.entity';
import { usingPostgres } from '../support/database';
import { seedOrganization, spawnServer, type SpawnedServer, useDatabase } from '../support/processes';
import { WebhookReceiver } from '../support/webhook-receiver';

const FAST = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  EVENT_POLL_INTERVAL_MS: '50',
  WEBHOOK_RETRY_SCHEDULE_MS: '100,100,100,100,100',
  // A delivery the killed server was making is taken over once its lease (4 × timeout + 5 s) ends.
  WEBHOOK_TIMEOUT_MS: '1000',
};

/** One acknowledged write: the user and the version its answer gave. */
interface Ack {
  userId: string;
  version: number;
}

async function updateMe(url: string, pat: string, jobTitle: string): Promise<number | null> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${pat}` },
    body: JSON.stringify({
      query: 'mutation ($v: String!) { updateMe(input: { jobTitle: $v }) { version } }',
      variables: { v: jobTitle },
    }),
  });
  const body = (await res.json()) as any;
  return res.status === 200 && !body.errors ? body.data.updateMe.version : null;
}

/** Each event once (dedupe by webhook-id), in the order first received: `[userId, version]`. */
function eventsOf(receiver: WebhookReceiver): Array<[string, number]> {
  const seen = new Set<string>();
  const events: Array<[string, number]> = [];
  for (const request of receiver.received) {
    if (seen.has(request.id)) continue;
    seen.add(request.id);
    events.push([request.payload.user.id, request.payload.user.version]);
  }
  return events;
}

/** An endpoint of the admin's organization sending its user.updated events to `receiver`, made through `url`. */
async function createEndpoint(url: string, adminPat: string, receiver: WebhookReceiver): Promise<void> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminPat}` },
    body: JSON.stringify({
      query:
        'mutation ($url: String!) { createWebhookEndpoint(input: { url: $url, eventTypes: ["user.updated"] }) { secret } }',
      variables: { url: receiver.url },
    }),
  });
  const body = (await res.json()) as any;
  expect(body.errors).toBeUndefined();
  receiver.secrets = [body.data.createWebhookEndpoint.secret];
}

/** The suite's database seeded with an organization (seedOrganization), closed again for the servers. */
async function seed(spawned: ReturnType<typeof useDatabase>, members: number) {
  const direct = await spawned.open();
  const seeded = await seedOrganization(direct.fixtures, members);
  await direct.close();
  return seeded;
}

describe('webhooks: nothing is lost', () => {
  const spawned = useDatabase();
  const receiver = new WebhookReceiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());

  it('after a SIGKILL in the middle of a write flood, every acknowledged write’s event reaches the receiver, in order', async () => {
    const { members, adminPat } = await seed(spawned, 6);
    const first = await spawnServer(spawned.database, { env: FAST });
    await createEndpoint(first.url, adminPat, receiver);
    const acks: Ack[] = [];
    let killed = false;
    const kill = () => {
      if (!killed) first.child.kill('SIGKILL');
      killed = true;
    };
    let timer: NodeJS.Timeout | undefined;
    await Promise.all(
      members.map(async ({ user, pat }, w) => {
        for (let seq = 0; seq < 300 && !killed; seq++) {
          const version = await updateMe(first.url, pat, `w${w}-s${seq}`).catch(() => null);
          if (version === null) return;
          acks.push({ userId: user.id, version });
          // Killed mid-flood: after so many acknowledgements, or a while, whichever comes first.
          timer ??= setTimeout(kill, 10_000);
          if (acks.length >= 60) kill();
        }
      }),
    );
    clearTimeout(timer);
    kill();
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(acks.length).toBeGreaterThan(20);
    const second = await spawnServer(spawned.database, { env: FAST });
    try {
      const wanted = new Set(acks.map((ack) => `${ack.userId}:${ack.version}`));
      await receiver.waitUntil(
        () => {
          const got = new Set(eventsOf(receiver).map(([user, version]) => `${user}:${version}`));
          return [...wanted].every((key) => got.has(key));
        },
        `${wanted.size} acknowledged writes' events`,
        30_000, // the killed server's leases (9 s) run out first
      );
      expect(receiver.received.every((request) => request.verified)).toBe(true);
      // One user's events arrived in version order, with none missing in between.
      for (const { user } of members) {
        const versions = eventsOf(receiver)
          .filter(([id]) => id === user.id)
          .map(([, version]) => version);
        expect(versions).toEqual(versions.map((_, i) => i + 2));
      }
    } finally {
      second.child.kill('SIGTERM');
      await second.exit;
    }
  }, 120_000);
});

(usingPostgres ? describe : describe.skip)('webhooks: two processes on one PostgreSQL database', () => {
  const spawned = useDatabase();
  const receiver = new WebhookReceiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());

  it('deliver each event once, in order per user', async () => {
    const { members, adminPat } = await seed(spawned, 8);
    // The default timeout: a request that timed out on a busy machine would be sent again, and counted twice.
    const env = { ...FAST, WEBHOOK_TIMEOUT_MS: '10000' };
    const servers: SpawnedServer[] = await Promise.all([
      spawnServer(spawned.database, { env }),
      spawnServer(spawned.database, { env }),
    ]);
    try {
      await createEndpoint(servers[1].url, adminPat, receiver);
      await Promise.all(
        members.map(async ({ pat }, w) => {
          for (let seq = 0; seq < 15; seq++) {
            expect(await updateMe(servers[seq % 2].url, pat, `p${w}-s${seq}`)).toBe(seq + 2);
          }
        }),
      );
      await receiver.waitUntil((r) => r.length >= members.length * 15, 'every event');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.received).toHaveLength(members.length * 15);
      expect(new Set(receiver.ids()).size).toBe(members.length * 15);
      for (const { user } of members) {
        const versions = eventsOf(receiver)
          .filter(([id]) => id === user.id)
          .map(([, version]) => version);
        expect(versions).toEqual(Array.from({ length: 15 }, (_, i) => i + 2));
      }
    } finally {
      for (const server of servers) server.child.kill('SIGTERM');
      await Promise.all(servers.map((server) => server.exit));
    }
  }, 120_000);
});

describe('webhooks: settling, on the delivery queue itself', () => {
  const spawned = useDatabase();
  const at = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();

  /** An organization with an endpoint (no sender runs here) and one change of its admin, queued. */
  async function queuedDelivery(name: string) {
    const { services, fixtures } = await spawned.open();
    const { orgId, admin } = await fixtures.orgAdmin(name);
    const endpoint = Object.assign(new WebhookEndpoint(), {
      id: `whe_${orgId.slice(4)}`,
      organizationId: orgId,
      url: 'http://127.0.0.1:9/hook',
      description: null,
      eventTypes: [],
      secret: `whsec_${Buffer.alloc(24).toString('base64')}`,
      previousSecrets: [],
      enabled: true,
      disabledReason: null,
      lastSuccessAt: null,
      createdAt: at(-60),
      updatedAt: at(-60),
    });
    await services.db.write((m) => m.getRepository(WebhookEndpoint).insert(endpoint));
    await services.users.update(operatorContext(), admin.id, { jobTitle: name });
    const [leased] = await services.db.users.dispatchEvents(at(0), 10, at(10));
    return { services, admin, endpoint, leased };
  }

  it('a sender that stalled past its lease cannot undo what the one that took the delivery over recorded', async () => {
    const { services, admin, endpoint, leased: first } = await queuedDelivery('Stalled sender');
    const port = services.db.users;
    expect(first).toMatchObject({ endpointId: endpoint.id, attempts: 1 });
    // Its lease runs out and a second sender takes it.
    const [second] = await port.leaseDeliveries(at(20), at(30), 10);
    expect(second).toMatchObject({ id: first.id, attempts: 2 });
    const settlement = { id: first.id, endpointId: endpoint.id, userId: admin.id, status: 200, error: null };
    await port.settleDeliveries(
      [{ ...settlement, attempts: 2, state: 'delivered', nextAttemptAt: null }],
      at(21),
    );
    // The first wakes up and records its timeout: stale, it changes nothing.
    await port.settleDeliveries(
      [
        {
          ...settlement,
          attempts: 1,
          state: 'pending',
          status: null,
          error: 'timed out',
          nextAttemptAt: at(25),
        },
      ],
      at(22),
    );
    const stored = await services.db.read((m) =>
      m.getRepository(WebhookDelivery).findOneByOrFail({ id: first.id }),
    );
    expect(stored).toMatchObject({
      state: 'delivered',
      lastStatus: 200,
      lastError: null,
      attempts: 2,
      ready: false,
    });
    expect(await port.leaseDeliveries(at(40), at(50), 10)).toEqual([]);
  });

  it('a given-up delivery with a very long error still disables its endpoint, the reason cut to fit', async () => {
    const { services, endpoint, leased } = await queuedDelivery('Long error');
    const [withContent] = await services.events.withContent([leased]);
    const error = `getaddrinfo EINVAL ${'a'.repeat(700)}.example`;
    const disabled = await services.events.settle(
      [{ leased: withContent, status: null, error, retryAt: null }],
      at(1),
    );
    expect(disabled.map((d) => d.endpointId)).toEqual([endpoint.id]);
    const stored = await services.db.read((m) =>
      m.getRepository(WebhookEndpoint).findOneByOrFail({ id: endpoint.id }),
    );
    expect(stored.enabled).toBe(false);
    expect([...stored.disabledReason!].length).toBeLessThanOrEqual(500);
    expect(stored.disabledReason).toMatch(
      /^Every delivery failed from .* \(last: getaddrinfo EINVAL a+…\); fix the receiver/,
    );
    const delivery = await services.db.read((m) =>
      m.getRepository(WebhookDelivery).findOneByOrFail({ id: leased.id }),
    );
    expect(delivery.state).toBe('failed');
  });
});

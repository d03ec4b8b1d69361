import { operatorContext } from '../../src/auth/principal';
import { UserEvent } from '../../src/entities/user-event.entity';
import { WebhookEndpoint } from '../../src/entities/webhook.entity';
import { isForbiddenAddress, urlProblem } from '../../src/webhooks/webhook-target';
import { bearer, useApp } from '../support/harness';
import { type CliResult, runCli, singleJsonObject } from '../support/processes';
import { pollUntil } from '../support/poll';
import { WebhookReceiver } from '../support/webhook-receiver';
import { CREATE, ENDPOINTS, FAST, UPDATE_USER, useWebhookOrganizations } from './webhook-support';

describe('webhooks', () => {
  const app = useApp({ env: FAST });
  const { setUp, anotherEndpoint } = useWebhookOrganizations(app);

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

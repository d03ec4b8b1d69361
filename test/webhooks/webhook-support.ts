import { Role } from '../../src/entities/enums';
import { bearer, type TestApp } from '../support/harness';
import { pollUntil } from '../support/poll';
import { WebhookReceiver } from '../support/webhook-receiver';

/** What the webhook suites share: their operations, fast delivery settings, and organizations with endpoints. */

export const CREATE = `mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes enabled } } }`;
export const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id version } }`;
export const ENDPOINTS = `{ webhookEndpoints { id url enabled disabledReason lastSuccessAt } }`;

export const FAST = {
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

/**
 * The helpers of a suite whose tests each get an organization of their own with an endpoint sending to
 * a new receiver; the receivers stop after the suite.
 */
export function useWebhookOrganizations(app: TestApp) {
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
  return { setUp, anotherEndpoint, disabledEndpoints };
}

import { type Command, InvalidArgumentError } from 'commander';
import type { RequestContext } from '../auth/principal';
import {
  previousSecretExpiresAt,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../entities/webhook.entity';
import type { Services } from '../services';

/** What the webhook commands share with the rest of the CLI (main.ts). */
export interface CliTools {
  ctx: RequestContext;
  withServices<T>(work: (services: Services) => Promise<T>): Promise<T>;
  /** withServices for a command about one organization, which must exist. */
  withOrganization<T>(organizationId: string, work: (services: Services) => Promise<T>): Promise<T>;
  print(json: boolean, value: Record<string, unknown>, human: string): void;
  table(value: Record<string, unknown>): string;
  json(command: Command): boolean;
}

function shown(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    organizationId: endpoint.organizationId,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    lastSuccessAt: endpoint.lastSuccessAt,
    createdAt: endpoint.createdAt,
  };
}

/** --events: the types named, each once; an empty name (`--events ,`) would silently mean every type. */
function eventTypesOption(value: string): string[] {
  const types = value.split(',').map((type) => type.trim());
  if (types.some((type) => type === ''))
    throw new InvalidArgumentError('names an empty event type; leave --events out for every type');
  return types;
}

function deliveryLine(delivery: WebhookDelivery): string {
  const next = delivery.state === 'pending' ? ` next ${delivery.nextAttemptAt}` : '';
  return (
    `${delivery.id}\t${delivery.eventId}\t${delivery.state}\tattempts ${delivery.attempts}` +
    `\tlast ${delivery.lastStatus ?? delivery.lastError ?? '-'}${next}`
  );
}

/** `webhook create|list|delete|rotate|deliveries|replay`: the GraphQL operations, for an organization the operator names. */
export function addWebhookCommands(program: Command, tools: CliTools): void {
  const { ctx, withServices, withOrganization, print, table, json } = tools;
  const webhook = program
    .command('webhook')
    .description("webhook endpoints of an organization's user events");
  webhook
    .command('create')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption('--url <url>', 'where events are POSTed')
    .option('--events <types>', 'comma-separated event types (default: all)', eventTypesOption)
    .option('--description <text>', 'what it is for')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const { endpoint, secret } = await withOrganization(options.org, (s) =>
        s.webhooks.create(
          ctx,
          {
            url: options.url,
            eventTypes: options.events ?? [],
            description: options.description ?? null,
          },
          options.org,
        ),
      );
      const out = { ...shown(endpoint), secret };
      print(json(command), out, `${table(out)}\n(the secret is shown only now)`);
    });
  webhook
    .command('list')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const endpoints = (await withOrganization(options.org, (s) => s.webhooks.list(ctx, options.org))).map(
        shown,
      );
      const human = endpoints
        .map((e) => `${e.id}\t${e.enabled ? 'enabled' : `disabled (${e.disabledReason})`}\t${e.url}`)
        .join('\n');
      print(json(command), { endpoints }, human || '(no endpoints)');
    });
  webhook
    .command('delete')
    .argument('<id>', 'endpoint id (whe_…)')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (id, options, command) => {
      await withServices((s) => s.webhooks.delete(ctx, id, options.org));
      print(json(command), { id, deleted: true }, `deleted ${id}`);
    });
  webhook
    .command('rotate')
    .argument('<id>', 'endpoint id (whe_…)')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (id, options, command) => {
      const { endpoint, secret } = await withServices((s) => s.webhooks.rotateSecret(ctx, id, options.org));
      const out = { id: endpoint.id, secret, previousSecretExpiresAt: previousSecretExpiresAt(endpoint) };
      print(
        json(command),
        out,
        `${table(out)}\n(the old secret signs too until then; the new one is shown only now)`,
      );
    });
  webhook
    .command('deliveries')
    .argument('<id>', 'endpoint id (whe_…)')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--first <n>', 'how many, newest first (1-100)', (v) => Number(v), 20)
    .option('--json', 'print one JSON object')
    .action(async (id, options, command) => {
      const page = await withServices((s) =>
        s.webhooks.deliveries(ctx, id, options.first, null, options.org),
      );
      const deliveries = page.deliveries.map((d) => ({
        id: d.id,
        eventId: d.eventId,
        userId: d.userId,
        status: d.state,
        attempts: d.attempts,
        lastResponseCode: d.lastStatus,
        lastError: d.lastError,
        nextAttemptAt: d.state === 'pending' ? d.nextAttemptAt : null,
        createdAt: d.createdAt,
        deliveredAt: d.deliveredAt,
      }));
      print(
        json(command),
        { endpointId: id, deliveries, hasMore: page.hasNextPage },
        page.deliveries.map(deliveryLine).join('\n') || '(no deliveries)',
      );
    });
  webhook
    .command('replay')
    .argument('<id>', 'endpoint id (whe_…)')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption('--since <dateTime>', 'send the events since then again, in order (ISO 8601)')
    .option('--json', 'print one JSON object')
    .action(async (id, options, command) => {
      const queued = await withServices((s) => s.webhooks.replay(ctx, id, options.since, options.org));
      print(json(command), { endpointId: id, queued }, `queued ${queued} events again`);
    });
}

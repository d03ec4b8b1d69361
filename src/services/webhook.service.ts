import crypto from 'node:crypto';
import type { RequestContext } from '../auth/principal';
import { couldBeIssuedId, randomId } from '../auth/secrets';
import type { Database } from '../db/database';
import { Role, UserStatus } from '../entities/enums';
import { USER_EVENT_TYPES } from '../entities/user-event.entity';
import { WebhookDelivery, WebhookEndpoint } from '../entities/webhook.entity';
import { BadUserInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../errors/app-error';
import type { FieldError } from '../errors/app-error';
import type { WebhookOutbox } from '../webhooks/webhook-outbox';
import { type Target, urlProblem } from '../webhooks/webhook-target';
import { checkPageSize, decodeCursor, pageOf } from './pagination';
import { hasForbiddenCharacters } from './validation/user-field.rules';

/** After a rotation the old secret signs alongside the new one this long. */
const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

/** Earlier secrets signing at once at most (rotations within one overlap); beyond, the oldest stops first. */
const MAX_PREVIOUS_SECRETS = 10;

export interface WebhookEndpointInput {
  /** Null is refused: an endpoint always has a URL. */
  url?: string | null;
  eventTypes?: string[] | null;
  description?: string | null;
  /** Null is refused: an endpoint is enabled or not. */
  enabled?: boolean | null;
}

export interface DeliveryPage {
  deliveries: WebhookDelivery[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** `whsec_` and 24 random bytes in base64, the form Standard Webhooks libraries take. */
function newSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}

/** The webhook endpoints of an organization, managed by its admins (or the operator, naming the organization). */
export class WebhookService {
  constructor(
    private readonly db: Database,
    private readonly outbox: WebhookOutbox,
    private readonly target: Target,
  ) {}

  /** The organization the caller manages: an active admin's own, or the one the operator names. */
  private organizationOf(ctx: RequestContext, organizationId?: string): string {
    if (ctx.operator) {
      if (!organizationId) throw new BadUserInputError([{ field: 'organization', message: 'is required' }]);
      return organizationId;
    }
    const caller = ctx.principal?.user;
    if (!caller) throw new UnauthenticatedError();
    if (caller.role !== Role.ADMIN || caller.status !== UserStatus.ACTIVE)
      throw new ForbiddenError('Only admins manage webhook endpoints');
    return caller.organizationId;
  }

  private check(input: WebhookEndpointInput, creating: boolean): void {
    const problems: FieldError[] = [];
    if (creating && input.url == null) problems.push({ field: 'url', message: 'url is required' });
    else if (input.url === null) problems.push({ field: 'url', message: 'url cannot be null' });
    if (typeof input.url === 'string') {
      const problem =
        input.url.length > 2000
          ? 'url must be at most 2000 characters'
          : hasForbiddenCharacters(input.url)
            ? 'url must not contain control characters'
            : urlProblem(input.url, this.target);
      if (problem) problems.push({ field: 'url', message: problem });
    }
    for (const type of input.eventTypes ?? []) {
      if (!(USER_EVENT_TYPES as readonly string[]).includes(type))
        problems.push({
          field: 'eventTypes',
          message: `${type} is not one of ${USER_EVENT_TYPES.join(', ')}`,
        });
    }
    if (input.description && input.description.length > 500)
      problems.push({ field: 'description', message: 'description must be at most 500 characters' });
    else if (input.description && hasForbiddenCharacters(input.description))
      problems.push({
        field: 'description',
        message: 'description must not contain control characters, lone surrogates or bidirectional controls',
      });
    if (input.enabled === null) problems.push({ field: 'enabled', message: 'enabled cannot be null' });
    if (problems.length > 0) throw new BadUserInputError(problems);
  }

  private async endpoint(organizationId: string, id: string): Promise<WebhookEndpoint> {
    // An id no endpoint could have (a NUL byte, which PostgreSQL refuses in text) is not looked up.
    if (!couldBeIssuedId(id)) throw new NotFoundError('Webhook endpoint not found');
    const endpoint = await this.db.read((m) =>
      m.getRepository(WebhookEndpoint).findOneBy({ id, organizationId }),
    );
    if (!endpoint) throw new NotFoundError('Webhook endpoint not found');
    return endpoint;
  }

  async create(
    ctx: RequestContext,
    input: WebhookEndpointInput,
    organizationId?: string,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const organization = this.organizationOf(ctx, organizationId);
    this.check(input, true);
    const now = new Date().toISOString();
    const endpoint = Object.assign(new WebhookEndpoint(), {
      id: randomId('whe_'),
      organizationId: organization,
      url: input.url!,
      description: input.description ?? null,
      eventTypes: [...new Set(input.eventTypes ?? [])],
      secret: newSecret(),
      previousSecrets: [],
      enabled: true,
      disabledReason: null,
      lastSuccessAt: null,
      createdAt: now,
      updatedAt: now,
    });
    await this.db.write((m) => m.getRepository(WebhookEndpoint).insert(endpoint));
    return { endpoint, secret: endpoint.secret };
  }

  list(ctx: RequestContext, organizationId?: string): Promise<WebhookEndpoint[]> {
    const organization = this.organizationOf(ctx, organizationId);
    return this.db.read((m) =>
      m
        .getRepository(WebhookEndpoint)
        .find({ where: { organizationId: organization }, order: { createdAt: 'ASC' } }),
    );
  }

  async update(
    ctx: RequestContext,
    id: string,
    input: WebhookEndpointInput,
    organizationId?: string,
  ): Promise<WebhookEndpoint> {
    const endpoint = await this.endpoint(this.organizationOf(ctx, organizationId), id);
    this.check(input, false);
    if (input.url != null) endpoint.url = input.url;
    if (input.eventTypes !== undefined) endpoint.eventTypes = [...new Set(input.eventTypes ?? [])];
    if (input.description !== undefined) endpoint.description = input.description;
    if (input.enabled != null) {
      endpoint.enabled = input.enabled;
      endpoint.disabledReason = input.enabled ? null : 'Disabled by an admin';
    }
    endpoint.updatedAt = new Date().toISOString();
    await this.db.write((m) => m.getRepository(WebhookEndpoint).update({ id }, endpoint));
    return endpoint;
  }

  async delete(ctx: RequestContext, id: string, organizationId?: string): Promise<boolean> {
    const endpoint = await this.endpoint(this.organizationOf(ctx, organizationId), id);
    await this.db.write(async (m) => {
      await m.getRepository(WebhookDelivery).delete({ endpointId: endpoint.id });
      await m.getRepository(WebhookEndpoint).delete({ id: endpoint.id });
    });
    return true;
  }

  /**
   * A new secret; the old one keeps signing alongside it for 24 hours, as do the earlier ones still in
   * their own 24 hours (a receiver may not have taken the last secret yet).
   */
  async rotateSecret(
    ctx: RequestContext,
    id: string,
    organizationId?: string,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const endpoint = await this.endpoint(this.organizationOf(ctx, organizationId), id);
    const now = new Date();
    const expiresAt = new Date(now.getTime() + ROTATION_OVERLAP_MS).toISOString();
    const stillSigning = endpoint.previousSecrets.filter(
      (previous) => previous.expiresAt > now.toISOString(),
    );
    Object.assign(endpoint, {
      previousSecrets: [...stillSigning, { secret: endpoint.secret, expiresAt }].slice(-MAX_PREVIOUS_SECRETS),
      secret: newSecret(),
      updatedAt: now.toISOString(),
    });
    await this.db.write((m) => m.getRepository(WebhookEndpoint).update({ id }, endpoint));
    return { endpoint, secret: endpoint.secret };
  }

  /** The endpoint's deliveries, newest first. */
  async deliveries(
    ctx: RequestContext,
    endpointId: string,
    first = 20,
    after?: string | null,
    organizationId?: string,
  ): Promise<DeliveryPage> {
    const endpoint = await this.endpoint(this.organizationOf(ctx, organizationId), endpointId);
    checkPageSize(first);
    const before = after ? decodeCursor('delivery', after) : null;
    const rows = await this.db.read((m) => {
      const query = m
        .getRepository(WebhookDelivery)
        .createQueryBuilder('d')
        .where('d.endpoint_id = :id', { id: endpoint.id });
      if (before !== null) query.andWhere('d.seq < :before', { before });
      return query
        .orderBy('d.seq', 'DESC')
        .take(first + 1)
        .getMany();
    });
    const page = pageOf(rows, first, 'delivery', (delivery) => delivery.seq);
    return { deliveries: page.items, hasNextPage: page.hasNextPage, endCursor: page.endCursor };
  }

  /** Sends the organization's events since `since` to the endpoint again, in order. How many. */
  async replay(
    ctx: RequestContext,
    endpointId: string,
    since: string,
    organizationId?: string,
  ): Promise<number> {
    const endpoint = await this.endpoint(this.organizationOf(ctx, organizationId), endpointId);
    if (Number.isNaN(Date.parse(since)))
      throw new BadUserInputError([{ field: 'since', message: 'since must be a date-time' }]);
    const count = await this.outbox.replay(endpoint, new Date(since).toISOString(), new Date().toISOString());
    this.outbox.written();
    return count;
  }
}

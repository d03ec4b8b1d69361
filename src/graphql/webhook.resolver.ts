import { GraphQLDateTimeISO } from 'graphql-scalars';
import {
  Arg,
  Authorized,
  Ctx,
  Field,
  ID,
  InputType,
  Int,
  Mutation,
  ObjectType,
  Query,
  registerEnumType,
  Resolver,
} from 'type-graphql';
import type { RequestContext } from '../auth/principal';
import { Need } from '../auth/scopes';
import {
  previousSecretExpiresAt,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../entities/webhook.entity';
import type { WebhookService } from '../services/webhook.service';

export enum WebhookDeliveryStatus {
  PENDING = 'pending',
  DELIVERED = 'delivered',
  FAILED = 'failed',
}
registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description: 'PENDING: not delivered yet (retries to come); DELIVERED: answered 2xx; FAILED: given up',
});

@ObjectType('WebhookEndpoint', { description: "Where the organization's user events are sent" })
class WebhookEndpointType {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => [String], { description: 'The event types sent; empty: all' }) eventTypes!: string[];
  @Field() enabled!: boolean;
  @Field(() => String, { nullable: true, description: 'Why it is disabled' }) disabledReason!: string | null;
  @Field(() => GraphQLDateTimeISO, { nullable: true }) lastSuccessAt!: string | null;
  @Field(() => GraphQLDateTimeISO, {
    nullable: true,
    description: 'Until then the previous secret signs too (after a rotation)',
  })
  previousSecretExpiresAt!: string | null;
  @Field(() => GraphQLDateTimeISO) createdAt!: string;
  @Field(() => GraphQLDateTimeISO) updatedAt!: string;
}

@ObjectType({ description: 'An endpoint and its signing secret, shown this once' })
class WebhookEndpointWithSecret {
  @Field(() => WebhookEndpointType) endpoint!: WebhookEndpointType;
  @Field({ description: 'whsec_…: verify signatures with it (Standard Webhooks)' }) secret!: string;
}

@ObjectType('WebhookDelivery', { description: 'One event sent to one endpoint' })
class WebhookDeliveryType {
  @Field(() => ID) id!: string;
  @Field(() => ID, { description: 'The event (webhook-id)' }) eventId!: string;
  @Field(() => ID) userId!: string;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int) attempts!: number;
  @Field(() => Int, { nullable: true }) lastResponseCode!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => GraphQLDateTimeISO, { nullable: true, description: 'When it is tried next (PENDING)' })
  nextAttemptAt!: string | null;
  @Field(() => GraphQLDateTimeISO) createdAt!: string;
  @Field(() => GraphQLDateTimeISO, { nullable: true }) deliveredAt!: string | null;
}

@ObjectType()
class WebhookDeliveryPageInfo {
  @Field() hasNextPage!: boolean;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
}

@ObjectType()
class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryType]) nodes!: WebhookDeliveryType[];
  @Field(() => WebhookDeliveryPageInfo) pageInfo!: WebhookDeliveryPageInfo;
}

@InputType()
class CreateWebhookEndpointInput {
  @Field({ description: 'https (http and private addresses only where the server allows them)' })
  url!: string;
  @Field(() => [String], { nullable: true, description: 'Event types to send; empty or absent: all' })
  eventTypes?: string[] | null;
  @Field(() => String, { nullable: true }) description?: string | null;
}

@InputType()
class UpdateWebhookEndpointInput {
  @Field({ nullable: true }) url?: string;
  @Field(() => [String], { nullable: true }) eventTypes?: string[] | null;
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field({ nullable: true, description: 'Enabling clears disabledReason' }) enabled?: boolean;
}

function endpointOf(endpoint: WebhookEndpoint): WebhookEndpointType {
  const { secret: _secret, previousSecrets: _previous, organizationId: _organization, ...shown } = endpoint;
  return { ...shown, previousSecretExpiresAt: previousSecretExpiresAt(endpoint) };
}

function deliveryOf(delivery: WebhookDelivery): WebhookDeliveryType {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    userId: delivery.userId,
    status: delivery.state as WebhookDeliveryStatus,
    attempts: delivery.attempts,
    lastResponseCode: delivery.lastStatus,
    lastError: delivery.lastError,
    nextAttemptAt: delivery.state === 'pending' ? delivery.nextAttemptAt : null,
    createdAt: delivery.createdAt,
    deliveredAt: delivery.deliveredAt,
  };
}

/** Webhook endpoints of the caller's organization, for its admins. */
@Resolver()
export class WebhookResolver {
  constructor(private readonly webhooks: WebhookService) {}

  @Authorized(Need.READ)
  @Query(() => [WebhookEndpointType], { description: "The organization's webhook endpoints (admins)" })
  async webhookEndpoints(@Ctx() ctx: RequestContext): Promise<WebhookEndpointType[]> {
    return (await this.webhooks.list(ctx)).map(endpointOf);
  }

  @Authorized(Need.READ)
  @Query(() => WebhookDeliveryConnection, { description: 'Deliveries to an endpoint, newest first (admins)' })
  async webhookDeliveries(
    @Ctx() ctx: RequestContext,
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
  ): Promise<WebhookDeliveryConnection> {
    const page = await this.webhooks.deliveries(ctx, endpointId, first, after);
    return {
      nodes: page.deliveries.map(deliveryOf),
      pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
    };
  }

  @Authorized(Need.WRITE)
  @Mutation(() => WebhookEndpointWithSecret, {
    description:
      "Sends the organization's user events to `url`, signed with the secret shown in the answer (admins)",
  })
  async createWebhookEndpoint(
    @Ctx() ctx: RequestContext,
    @Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput,
  ): Promise<WebhookEndpointWithSecret> {
    const { endpoint, secret } = await this.webhooks.create(ctx, input);
    return { endpoint: endpointOf(endpoint), secret };
  }

  @Authorized(Need.WRITE)
  @Mutation(() => WebhookEndpointType, { description: 'Changes an endpoint; absent fields stay (admins)' })
  async updateWebhookEndpoint(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
  ): Promise<WebhookEndpointType> {
    return endpointOf(await this.webhooks.update(ctx, id, input));
  }

  @Authorized(Need.WRITE)
  @Mutation(() => Boolean, { description: 'Deletes an endpoint and its deliveries (admins)' })
  deleteWebhookEndpoint(@Ctx() ctx: RequestContext, @Arg('id', () => ID) id: string): Promise<boolean> {
    return this.webhooks.delete(ctx, id);
  }

  @Authorized(Need.WRITE)
  @Mutation(() => WebhookEndpointWithSecret, {
    description:
      'A new signing secret, shown this once; the old one signs alongside it for 24 hours (admins)',
  })
  async rotateWebhookSecret(
    @Ctx() ctx: RequestContext,
    @Arg('id', () => ID) id: string,
  ): Promise<WebhookEndpointWithSecret> {
    const { endpoint, secret } = await this.webhooks.rotateSecret(ctx, id);
    return { endpoint: endpointOf(endpoint), secret };
  }

  @Authorized(Need.WRITE)
  @Mutation(() => Int, {
    description:
      "Sends the organization's events since `since` to the endpoint again, in order; how many (admins)",
  })
  replayWebhookEvents(
    @Ctx() ctx: RequestContext,
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('since', () => GraphQLDateTimeISO) since: Date,
  ): Promise<number> {
    return this.webhooks.replay(ctx, endpointId, since.toISOString());
  }
}

import type { DataSource } from 'typeorm';
import { JwtCodec, loadJwtSecret } from '../auth/jwt';
import type { Config } from '../config';
import { Database } from '../db/database';
import { MailOutbox } from '../mail/mail-outbox';
import { WebhookOutbox } from '../webhooks/webhook-outbox';
import { CredentialService } from './credential.service';
import { IdempotencyService } from './idempotency.service';
import { OrganizationService } from './organization.service';
import { UserHistoryService } from './user-history.service';
import { UserProvisioningService } from './user-provisioning.service';
import { UserEventFeed } from './user-event-feed';
import { UserService } from './user.service';
import { WebhookService } from './webhook.service';

export interface Services {
  db: Database;
  users: UserService;
  provisioning: UserProvisioningService;
  organizations: OrganizationService;
  credentials: CredentialService;
  history: UserHistoryService;
  idempotency: IdempotencyService;
  /** Messages queued by changes, for the sender (src/mail). */
  mail: MailOutbox;
  /** Events of committed changes, for the webhook sender (src/webhooks). */
  events: WebhookOutbox;
  webhooks: WebhookService;
  /** Committed events as they come, for subscriptions. */
  feed: UserEventFeed;
}

/** Wires the services to an initialised data source; the server, the CLI and the tests use this. */
export function createServices(
  config: Config,
  dataSource: DataSource,
  warn?: (message: string, error: unknown) => void,
): Services {
  const db = new Database(dataSource, warn);
  const jwt = new JwtCodec(loadJwtSecret(config), config.jwt);
  const mail = new MailOutbox(db);
  const events = new WebhookOutbox(db);
  const feed = new UserEventFeed(db, config.events.pollIntervalMs);
  const emailChange = { publicUrl: config.mail.publicUrl, ...config.emailChange };
  return {
    db,
    mail,
    events,
    feed,
    users: new UserService(db, emailChange, config.bulkUpdateMaxItems, (changes) => {
      events.written();
      feed.written();
      if (changes.some((change) => change.mail.length > 0)) mail.queued();
    }),
    webhooks: new WebhookService(db, events, {
      allowPrivate: config.webhooks.allowPrivate,
      httpsOnly: config.production,
    }),
    provisioning: new UserProvisioningService(db),
    organizations: new OrganizationService(db),
    credentials: new CredentialService(db, jwt, config.jwt.defaultTtlSeconds),
    history: new UserHistoryService(db),
    idempotency: new IdempotencyService(db, config.idempotency.abandonedAfterSeconds),
  };
}

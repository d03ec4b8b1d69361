import fs from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { DataSource } from 'typeorm';
import type { Config } from '../config';
import { Credential } from '../entities/credential.entity';
import { Organization } from '../entities/organization.entity';
import { IdempotencyKey } from '../entities/idempotency-key.entity';
import { MailMessage } from '../entities/mail-message.entity';
import { UserChange } from '../entities/user-change.entity';
import { UserEvent } from '../entities/user-event.entity';
import { WebhookDelivery, WebhookEndpoint } from '../entities/webhook.entity';
import { User } from '../entities/user.entity';
import { migrations } from '../migrations';

export const entities = [
  Organization,
  User,
  Credential,
  IdempotencyKey,
  UserChange,
  MailMessage,
  UserEvent,
  WebhookEndpoint,
  WebhookDelivery,
];

/**
 * sqlite3 as TypeORM's driver. TypeORM calls the driver's `verbose()`, which in sqlite3 wraps every method
 * of every connection in the process (the data port's too) to capture a stack trace and `util.inspect` the
 * arguments of each call: a tenth of the server's main thread under load. Here `verbose()` changes nothing.
 */
const sqliteDriver = { ...sqlite3, verbose: () => sqliteDriver };

/** Builds the data source for either database from the configuration; nothing connects until initialize(). */
export function createDataSource(config: Config): DataSource {
  if (config.database.kind === 'sqlite') {
    fs.mkdirSync(path.dirname(config.database.location), { recursive: true, mode: 0o700 });
    return new DataSource({
      type: 'sqlite',
      driver: sqliteDriver,
      database: config.database.location,
      enableWAL: true,
      busyTimeout: 5000,
      entities,
      migrations,
      migrationsTransactionMode: 'each',
      synchronize: false,
      logging: false,
    });
  }
  return new DataSource({
    type: 'postgres',
    url: config.database.url,
    entities,
    migrations,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    // A connection that the server does not accept within 5 s fails, rather than waits forever.
    extra: { max: 10, connectionTimeoutMillis: 5000 },
  });
}

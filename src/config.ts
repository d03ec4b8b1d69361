import path from 'node:path';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface Config {
  readonly nodeEnv: string;
  readonly production: boolean;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly database: {
    readonly kind: DatabaseKind;
    /** Absolute file path for SQLite, the connection URL for PostgreSQL. */
    readonly location: string;
    readonly url: string;
  };
  readonly jwt: {
    /** Explicit secret; when undefined the server generates one into DATA_DIR. */
    readonly secret: string | undefined;
    readonly algorithm: 'HS256' | 'HS384' | 'HS512';
    readonly issuer: string | undefined;
    readonly audience: string | undefined;
    readonly defaultTtlSeconds: number;
  };
  readonly bodyLimitBytes: number;
  /** Items `updateUsers` takes in one call at most. */
  readonly bulkUpdateMaxItems: number;
  readonly idempotency: {
    /**
     * A first attempt with an Idempotency-Key that has neither written nor answered after this long
     * (its process died) stops blocking retries: the next retry takes the key over.
     */
    readonly abandonedAfterSeconds: number;
  };
  readonly rateLimit: {
    /** Writes per credential per minute; 0 turns the limit off. */
    readonly writesPerMinute: number;
    /** Failed authentications per client address per minute; 0 turns the limit off. */
    readonly authFailuresPerMinute: number;
    /** Where budgets live: this process, or the PostgreSQL database all processes share. */
    readonly store: 'memory' | 'postgres';
  };
  readonly graphql: {
    readonly maxDepth: number;
    readonly maxAliases: number;
    readonly maxDirectives: number;
    readonly maxTokens: number;
    readonly maxCost: number;
    /** "Did you mean …" hints in validation errors. */
    readonly fieldSuggestions: boolean;
  };
  readonly mail: {
    /** smtp:// or smtps:// URL of the SMTP server; unset: messages are written as .eml files under DATA_DIR/mail. */
    readonly smtpUrl: string | undefined;
    /** The From of every message. */
    readonly from: string;
    /** Where the links in messages point: this server as people reach it (scheme, host, port, no trailing /). */
    readonly publicUrl: string;
    /** First retry after this long; each next one waits twice as long (with jitter), at most two hours. */
    readonly retryBaseMs: number;
    /** Attempts before a message is given up. */
    readonly maxAttempts: number;
    /** How often a server looks for messages due (other processes' and retries). */
    readonly pollIntervalMs: number;
  };
  readonly emailChange: {
    /** How long the confirmation and cancel links of an email change work. */
    readonly linkTtlSeconds: number;
    /** Confirmation messages per user per hour (each change or resend sends one). */
    readonly maxPerHour: number;
  };
  readonly webhooks: {
    /** Allow endpoints whose address is loopback, private, link-local or a metadata service (tests, local receivers). */
    readonly allowPrivate: boolean;
    /** A delivery not answered 2xx within this long has failed. */
    readonly timeoutMs: number;
    /** Waits before each retry of a failed delivery; after the last, the delivery is given up. */
    readonly retryScheduleMs: readonly number[];
  };
  readonly events: {
    /** How often a server looks for new events (other processes', the CLI's) and webhook retries due. */
    readonly pollIntervalMs: number;
  };
  readonly subscriptions: {
    /**
     * How often an open connection's credential is checked again: one revoked or expired, or whose
     * user's rights changed, closes the connection.
     */
    readonly recheckMs: number;
    /** Open connections per credential in one process; one more is closed with 1013 (try again later). */
    readonly maxConnectionsPerCredential: number;
    /** Subscriptions at once on one connection; one more is refused (RATE_LIMITED). */
    readonly maxPerConnection: number;
  };
  readonly seedDemoData: boolean;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  readonly logLevel: string;
  readonly metricsEnabled: boolean;
  readonly introspection: boolean;
  /** GraphiQL at GET /graphql for browsers and the REST reference at /docs. */
  readonly explorerEnabled: boolean;
}

export class ConfigError extends Error {}

export type Env = Record<string, string | undefined>;

/** The longest interval a Node timer takes (longer ones fire at once, every millisecond). */
const TIMER_MAX_MS = 2 ** 31 - 1;
/** The longest a credential may be issued for (token create --expires-in, JWT_TTL_SECONDS): 100 years of 365.25 days. */
export const MAX_CREDENTIAL_LIFETIME_SECONDS = 36_525 * 24 * 3600;

function integer(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** MAIL_FROM: an address, alone or as `Name <address>`. */
function mailFrom(env: Env): string {
  const raw = env.MAIL_FROM;
  if (raw === undefined || raw === '') return 'Users API <no-reply@localhost>';
  if (!/^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(raw.trim()))
    throw new ConfigError(`MAIL_FROM must be an address, alone or as "Name <address>", got "${raw}"`);
  return raw.trim();
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function parseDatabase(url: string, dataDir: string): Config['database'] {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file)
      throw new ConfigError('DATABASE_URL sqlite: needs a file path, e.g. sqlite:./data/users.sqlite');
    return { kind: 'sqlite', location: path.resolve(file), url };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', location: url, url };
  void dataDir;
  throw new ConfigError('DATABASE_URL must start with sqlite: or postgres://');
}

function publicUrl(env: Env, port: number): string {
  const raw = env.PUBLIC_URL || `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`PUBLIC_URL must be an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

function smtpUrl(env: Env): string | undefined {
  const raw = env.SMTP_URL || undefined;
  if (raw !== undefined && !/^smtps?:\/\//.test(raw))
    throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');
  return raw;
}

/** About a day in all: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
const WEBHOOK_RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

function schedule(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parts = raw.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^\d+$/.test(part)) || parts.length > 50)
    throw new ConfigError(`${name} must be a comma-separated list of at most 50 whole numbers, got "${raw}"`);
  return parts.map(Number);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevel(env: Env): string {
  const level = (env.LOG_LEVEL || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(level)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  return level;
}

function rateLimitStore(env: Env, databaseUrl: string): 'memory' | 'postgres' {
  const store = env.RATE_LIMIT_STORE || 'memory';
  if (store !== 'memory' && store !== 'postgres')
    throw new ConfigError('RATE_LIMIT_STORE must be memory or postgres');
  if (store === 'postgres' && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('RATE_LIMIT_STORE=postgres needs a postgres:// DATABASE_URL');
  }
  return store;
}

/** Reads the configuration once from the environment; the only place that touches process.env. */
export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(env.DATA_DIR || './data');
  const nodeEnv = env.NODE_ENV || 'development';
  const production = nodeEnv === 'production';
  const databaseUrl = env.DATABASE_URL || `sqlite:${path.join(dataDir, 'users.sqlite')}`;
  const algorithm = (env.JWT_ALGORITHM || 'HS256').toUpperCase();
  if (algorithm !== 'HS256' && algorithm !== 'HS384' && algorithm !== 'HS512') {
    throw new ConfigError('JWT_ALGORITHM must be one of HS256, HS384, HS512');
  }
  if (env.JWT_SECRET !== undefined && env.JWT_SECRET !== '' && env.JWT_SECRET.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters');
  }
  return Object.freeze({
    nodeEnv,
    production,
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 4000, 0, 65535),
    dataDir,
    database: Object.freeze(parseDatabase(databaseUrl, dataDir)),
    jwt: Object.freeze({
      secret: env.JWT_SECRET || undefined,
      algorithm,
      issuer: env.JWT_ISSUER || undefined,
      audience: env.JWT_AUDIENCE || undefined,
      defaultTtlSeconds: integer(env, 'JWT_TTL_SECONDS', 3600, 1, MAX_CREDENTIAL_LIFETIME_SECONDS),
    }),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024),
    bulkUpdateMaxItems: integer(env, 'BULK_UPDATE_MAX_ITEMS', 100, 1, 1000),
    idempotency: Object.freeze({
      abandonedAfterSeconds: integer(env, 'IDEMPOTENCY_ABANDONED_AFTER_SECONDS', 60, 1, 24 * 60 * 60),
    }),
    rateLimit: Object.freeze({
      writesPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 120),
      authFailuresPerMinute: integer(env, 'AUTH_FAILURE_LIMIT_PER_MINUTE', 30),
      store: rateLimitStore(env, databaseUrl),
    }),
    graphql: Object.freeze({
      maxDepth: integer(env, 'GRAPHQL_MAX_DEPTH', 8, 1),
      maxAliases: integer(env, 'GRAPHQL_MAX_ALIASES', 15, 0),
      maxDirectives: integer(env, 'GRAPHQL_MAX_DIRECTIVES', 20, 0),
      maxTokens: integer(env, 'GRAPHQL_MAX_TOKENS', 1000, 10),
      maxCost: integer(env, 'GRAPHQL_MAX_COST', 5000, 1),
      fieldSuggestions: boolean(env, 'GRAPHQL_FIELD_SUGGESTIONS', !production),
    }),
    mail: Object.freeze({
      smtpUrl: smtpUrl(env),
      from: mailFrom(env),
      publicUrl: publicUrl(env, integer(env, 'PORT', 4000, 0, 65535)),
      retryBaseMs: integer(env, 'MAIL_RETRY_BASE_MS', 30_000, 1, 2 * 60 * 60 * 1000),
      maxAttempts: integer(env, 'MAIL_MAX_ATTEMPTS', 16, 1, 100),
      pollIntervalMs: integer(env, 'MAIL_POLL_INTERVAL_MS', 1000, 10, TIMER_MAX_MS),
    }),
    emailChange: Object.freeze({
      linkTtlSeconds: integer(env, 'EMAIL_CHANGE_LINK_TTL_SECONDS', 24 * 60 * 60, 60, 30 * 24 * 60 * 60),
      maxPerHour: integer(env, 'EMAIL_CHANGE_MAX_PER_HOUR', 5, 1),
    }),
    webhooks: Object.freeze({
      allowPrivate: boolean(env, 'WEBHOOK_ALLOW_PRIVATE', false),
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      retryScheduleMs: Object.freeze(schedule(env, 'WEBHOOK_RETRY_SCHEDULE_MS', WEBHOOK_RETRY_SCHEDULE_MS)),
    }),
    events: Object.freeze({ pollIntervalMs: integer(env, 'EVENT_POLL_INTERVAL_MS', 250, 10, TIMER_MAX_MS) }),
    subscriptions: Object.freeze({
      recheckMs: integer(env, 'SUBSCRIPTION_RECHECK_INTERVAL_MS', 30_000, 10, TIMER_MAX_MS),
      maxConnectionsPerCredential: integer(env, 'SUBSCRIPTION_MAX_CONNECTIONS_PER_CREDENTIAL', 20, 1),
      maxPerConnection: integer(env, 'SUBSCRIPTION_MAX_PER_CONNECTION', 50, 1),
    }),
    seedDemoData: boolean(env, 'SEED_DEMO_DATA', !production),
    logLevel: logLevel(env),
    metricsEnabled: boolean(env, 'METRICS_ENABLED', true),
    introspection: boolean(env, 'GRAPHQL_INTROSPECTION', !production),
    explorerEnabled: boolean(env, 'EXPLORER_ENABLED', !production),
  });
}

import type { Config } from '../config';
import type { Database } from '../db/database';
import { sendJson, sendText } from '../http/answer';
import type { RouteTable } from '../http/router';
import type { Metrics } from './metrics';

/** How long /readyz waits for the database before it answers 503. */
const READINESS_TIMEOUT_MS = 2000;

/** `/` (where things are), `/healthz`, `/readyz` and, when on, `/metrics`, on the route table. */
export function addOperationsRoutes(
  table: RouteTable,
  { db, metrics, config }: { db: Database; metrics: Metrics; config: Config },
): void {
  table.add('/', {
    methods: {
      GET: ({ res }) =>
        sendJson(res, 200, {
          name: 'users-api',
          graphql: '/graphql',
          docs: config.explorerEnabled ? '/docs' : null,
          openapi: '/openapi.json',
        }),
    },
  });
  table.add('/healthz', { methods: { GET: ({ res }) => sendJson(res, 200, { status: 'ok' }) } });
  table.add('/readyz', {
    methods: {
      GET: async ({ res }) => {
        // Both ways to the database, TypeORM's and the data port's; a database that takes the
        // connection but does not answer is as unavailable as one that refuses it.
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no answer')), READINESS_TIMEOUT_MS);
        });
        const probe = Promise.all([db.read((m) => m.query('SELECT 1')), db.users.userById('usr_readiness')]);
        try {
          await Promise.race([probe, timeout]);
          sendJson(res, 200, { status: 'ready' });
        } catch {
          probe.catch(() => undefined);
          sendJson(res, 503, { status: 'unavailable' });
        } finally {
          clearTimeout(timer);
        }
      },
    },
  });
  if (config.metricsEnabled) {
    table.add('/metrics', {
      methods: {
        GET: async ({ res }) => {
          sendText(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
        },
      },
    });
  }
}

import type { Config } from '../config';
import type { Database } from '../db/database';
import { sendJson, sendText } from '../http/answer';
import type { RouteTable } from '../http/router';
import type { Metrics } from './metrics';

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
        try {
          await db.read((m) => m.query('SELECT 1'));
          sendJson(res, 200, { status: 'ready' });
        } catch {
          sendJson(res, 503, { status: 'unavailable' });
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

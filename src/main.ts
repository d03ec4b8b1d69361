import 'reflect-metadata';
import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { createDataSource } from './db/data-source';
import { UnansweredResponses } from './http/unanswered';
import { seedDemoData } from './seed';

/** Bootstrap only: config → data source → migrations → app → listen. */
async function main(): Promise<void> {
  const config = loadConfig();
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const { app, services, stop } = await createApp(config, dataSource);
  // Seeded before listening, so that once the URL is printed start-up is over and SIGTERM is handled.
  const demo = config.seedDemoData ? await seedDemoData(services) : null;

  let stopping = false;
  // Responses still to be sent; on shutdown they close their keep-alive connection, so that no new
  // request can follow on it and the server need not wait for idle connections to time out.
  const unanswered = new UnansweredResponses();
  const server = http.createServer();
  server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (stopping) {
      res.setHeader('Connection', 'close');
      return;
    }
    unanswered.track(res);
  });
  server.on('request', app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  console.log(`users-api listening on ${base} (GraphQL: ${base}/graphql, database: ${config.database.kind})`);
  console.log(
    config.explorerEnabled
      ? `Explore in a browser: GraphiQL ${base}/graphql, REST API reference ${base}/docs`
      : 'GraphiQL and the REST API reference (/docs) are off (EXPLORER_ENABLED=false)',
  );

  if (demo) {
    console.log(
      `Demo data created: organization ${demo.organizationId}, admin ${demo.userId} <${demo.email}>`,
    );
    console.log(`Demo personal access token (shown only now, store it): ${demo.token}`);
    console.log(
      `Try: curl -s ${base}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${demo.token}' ` +
        `-d '{"query":"mutation { updateMe(input: { name: \\"Ada Lovelace\\" }) { id name version } }"}'`,
    );
  }

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.close(async () => {
      await stop();
      await dataSource.destroy();
      process.exit(0);
    });
    server.closeIdleConnections();
    // Printed once the listening socket is closed: from here on new connections are refused.
    console.log(`${signal} received: finishing in-flight requests`);
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? `Configuration error: ${error.message}` : error);
  process.exit(1);
});

import 'reflect-metadata';
import http from 'node:http';
import { createApp } from './app';
import { ConfigError, loadConfig } from './config';
import { createDataSource } from './db/data-source';
import { UnansweredResponses } from './http/unanswered';
import { createLifecycleLogger } from './observability/logger';
import { seedDemoData } from './seed';

/** Start-up and shutdown lines: JSON like the request lines, and written whatever LOG_LEVEL says. */
const lifecycle = createLifecycleLogger();

/**
 * Until the server listens it has nothing to finish: a signal during start-up (waiting for the
 * database, migrating, each migration in its own transaction) ends the process at once. Without a
 * handler, node as a container's PID 1 would ignore SIGTERM until Docker's SIGKILL.
 */
function exitOnSignalDuringStartup(): () => void {
  const exit = (signal: NodeJS.Signals) => {
    lifecycle.info({ signal }, `${signal} received during start-up: exiting`);
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGTERM', exit);
  process.once('SIGINT', exit);
  return () => {
    process.off('SIGTERM', exit);
    process.off('SIGINT', exit);
  };
}

/** Bootstrap only: config → data source → migrations → app → listen. */
async function main(): Promise<void> {
  const startedUp = exitOnSignalDuringStartup();
  // What the server creates under DATA_DIR (the SQLite file and its WAL, the generated JWT secret,
  // mail files holding live links, webhook secrets in the database) is this user's alone.
  process.umask(0o077);
  const config = loadConfig();
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const { app, services, stop, attach } = await createApp(config, dataSource);
  // Seeded before listening, so that once the URL is printed start-up is over and SIGTERM is handled.
  const demo = config.seedDemoData ? await seedDemoData(services) : null;
  if (demo) {
    // Printed at once: the token is stored only as a hash, and a start that fails after this (a port
    // in use) must not lose it, as the next start seeds nothing.
    lifecycle.info(
      { organizationId: demo.organizationId, userId: demo.userId, email: demo.email },
      `Demo data created: organization ${demo.organizationId}, admin ${demo.userId} <${demo.email}>`,
    );
    // The token only in the message (never a field a log pipeline might index), followed by a space so
    // that it can be cut out of the JSON line as easily as out of plain text.
    lifecycle.info(`Demo personal access token: ${demo.token} (shown only now, store it)`);
  }

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
  // Attached once listening: the WebSocket server would also hear a failure to listen (a port in
  // use), and graphql-ws writes what it hears to the console, not as a JSON line.
  const closeSubscriptions = attach(server);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const base = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  lifecycle.info(
    { url: base, graphql: `${base}/graphql`, database: config.database.kind, pid: process.pid },
    `users-api listening on ${base} (GraphQL: ${base}/graphql, database: ${config.database.kind})`,
  );
  if (config.explorerEnabled) {
    lifecycle.info(
      { graphiql: `${base}/graphql`, docs: `${base}/docs` },
      `Explore in a browser: GraphiQL ${base}/graphql, REST API reference ${base}/docs`,
    );
  } else {
    lifecycle.info('GraphiQL and the REST API reference (/docs) are off (EXPLORER_ENABLED=false)');
  }

  if (demo) {
    lifecycle.info(
      `Try: curl -s ${base}/graphql -H 'content-type: application/json' -H 'authorization: Bearer ${demo.token}' ` +
        `-d '{"query":"mutation { updateMe(input: { name: \\"Ada Lovelace\\" }) { id name version } }"}'`,
    );
  }

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    for (const res of unanswered) if (!res.headersSent) res.setHeader('Connection', 'close');
    // Subscribers are told the server is going away (1001); their sockets would keep it from closing.
    void closeSubscriptions();
    server.close(async () => {
      await stop();
      await dataSource.destroy();
      lifecycle.info({ signal }, 'users-api stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
    // Written once the listening socket is closed: from here on new connections are refused.
    lifecycle.info({ signal }, `${signal} received: finishing in-flight requests`);
    setTimeout(() => {
      lifecycle.error({ signal }, 'in-flight requests still running after 10 s: exiting');
      process.exit(1);
    }, 10_000).unref();
  };
  startedUp();
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error) => {
  if (error instanceof ConfigError) lifecycle.fatal(`Configuration error: ${error.message}`);
  else if (error?.syscall === 'listen') {
    // The operator's to fix (a port in use, one not allowed): what and where, without a stack trace.
    const { code, address, port } = error as NodeJS.ErrnoException & { address?: string; port?: number };
    lifecycle.fatal({ code, address, port }, `users-api could not start: ${error.message}`);
  } else lifecycle.fatal({ err: error }, `users-api could not start: ${String(error?.message ?? error)}`);
  process.exit(1);
});

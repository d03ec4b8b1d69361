import http from 'node:http';
import { PgSimplifyInflectionPreset } from '@graphile/simplify-inflection';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

/**
 * The PostgreSQL peer: PostGraphile v5 in library mode on the benchmark's schema, as one would run it in
 * production (amber preset with simplified inflection, no GraphiQL, no watch, no explain, errors masked
 * by grafserv's default), on bare node:http. No authentication, like the baseline.
 */
async function main(): Promise<void> {
  const connectionString = process.env.DATABASE_URL ?? '';
  const schema = process.env.BENCH_PG_SCHEMA ?? '';
  if (!connectionString.startsWith('postgres') || !schema) {
    throw new Error('postgraphile-peer needs a postgres:// DATABASE_URL and BENCH_PG_SCHEMA');
  }
  const pgl = postgraphile({
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    // The server's pool size, as the baseline's.
    pgServices: [makePgService({ connectionString, schemas: [schema], poolConfig: { max: 10 } })],
    grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false, websockets: false },
    grafast: { explain: false },
  });
  const serv = pgl.createServ(grafserv);
  const server = http.createServer();
  serv.addTo(server);
  // Build the schema before saying we listen, so the first measured request does not pay for it.
  await pgl.getSchema();
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    console.log(`postgraphile listening on http://127.0.0.1:${port}`);
  });
  process.on('SIGTERM', () => {
    server.close(() => void Promise.resolve(pgl.release()).finally(() => process.exit(0)));
    server.closeAllConnections();
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

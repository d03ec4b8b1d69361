import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { UserEventFeed } from '../services/user-event-feed';
import { buildAppSchema, renderSchema } from './schema';

/** `npm run schema`: writes schema.graphql from the code (resolvers are never called). */
async function main(): Promise<void> {
  const schema = await buildAppSchema({
    users: undefined as never,
    history: undefined as never,
    webhooks: undefined as never,
    // Building never subscribes: the feed's database is never used.
    feed: new UserEventFeed(undefined as never, 1000),
  });
  const file = path.resolve(__dirname, '..', '..', 'schema.graphql');
  fs.writeFileSync(file, renderSchema(schema));
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

import path from 'node:path';
import { buildSources } from './build';
import { buildTemplates } from './database';

/** Says once per run which database the suite covers; builds the template databases and compiles the app's code once. */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) {
    console.log(`\n[users-api tests] database: PostgreSQL (TEST_DATABASE_URL is set)`);
  } else {
    console.log(
      '\n[users-api tests] database: SQLite. NOTICE: the PostgreSQL run is skipped because TEST_DATABASE_URL is not set; ' +
        '.ci/run sets it and runs the same suite again on PostgreSQL.',
    );
  }
  // The Jest workers, and the servers and CLI processes the tests spawn, load the same modules run after
  // run: Node 22 and later keep their compiled code here, in the repository's git-ignored cache (older
  // Node ignores it).
  process.env.NODE_COMPILE_CACHE ??= path.resolve(
    __dirname,
    '..',
    '..',
    'node_modules',
    '.cache',
    'users-api-v8',
  );
  buildSources();
  await buildTemplates();
}

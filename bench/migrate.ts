import 'reflect-metadata';
import { loadConfig } from '../src/config';
import { createDataSource } from '../src/db/data-source';
import type { BenchDatabase } from './database';

/** Runs the project's own migrations, as the server would at start, so the benchmark uses the real schema. */
export async function migrate(db: BenchDatabase, jwtSecret: string): Promise<void> {
  const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: db.dataDir, JWT_SECRET: jwtSecret });
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await dataSource.destroy();
  }
}

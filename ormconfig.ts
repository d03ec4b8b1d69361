import 'reflect-metadata';
import { loadConfig } from './src/config';
import { createDataSource } from './src/db/data-source';

/** The data source the TypeORM CLI uses (`typeorm -d dist/ormconfig.js migration:run`); the app builds its own. */
// The CLI refuses a file that exports more than one DataSource, so this is the only export.
export default createDataSource(loadConfig());

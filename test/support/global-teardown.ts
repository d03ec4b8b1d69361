import { dropTemplates } from './database';

/** Drops the run's template databases. */
export default async function globalTeardown(): Promise<void> {
  await dropTemplates();
}

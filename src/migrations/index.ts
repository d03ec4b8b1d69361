import { InitialSchema1763800000000 } from './1763800000000-initial-schema';

/** Every schema change, oldest first; both databases run the same list. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const migrations: Function[] = [InitialSchema1763800000000];

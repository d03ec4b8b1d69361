/** What one `npm run bench` does, from its arguments and BENCH_* variables. */
export interface BenchOptions {
  mode: 'standard' | 'scale' | 'soak' | 'import' | 'webhooks';
  /** Members seeded for the standard and soak runs (BENCH_USERS). */
  users: number;
  /** Members that get per-user credentials for the REST and `me` scenarios (BENCH_CREDENTIAL_USERS). */
  credentialUsers: number;
  durationSeconds: number;
  /** Rounds whose medians make the table: the standard run's (every scenario, baseline included) and --scale's. */
  rounds: number;
  warmupSeconds: number;
  connections: number;
  /** The two sizes of `--scale` (BENCH_SCALE_USERS, "1000,1000000"). */
  scaleUsers: [number, number];
  soakRequests: number;
  soakEvery: number;
  /** Rows of the `--import` file (BENCH_IMPORT_ROWS). */
  importRows: number;
  /** Node arguments for the server only, e.g. ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] (BENCH_NODE_ARGS). */
  serverNodeArgs: string[];
}

export const USAGE = `usage: npm run bench [-- --scale | --soak | --import | --webhooks]
  (default)  baselines (and PostGraphile on PostgreSQL), GraphQL updateUser scattered and on one
             row, me, the five REST endpoints; table and targets
  --scale    GraphQL updateUser at 1,000 and at 1,000,000 users, and their ratio
  --soak     200,000 GraphQL updateUser requests, server RSS every 20,000
  --import   the operator CLI imports 100,000 new users from a CSV file, then updates them all (--update)
  --webhooks GraphQL updateUser without and with a webhook endpoint, and the delivery lag
environment: BENCH_USERS (10000), BENCH_DURATION (10 s), BENCH_WARMUP (2 s), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32),
  BENCH_CREDENTIAL_USERS (1000), BENCH_SCALE_USERS (1000,1000000), BENCH_SOAK_REQUESTS (200000),
  BENCH_SOAK_EVERY (20000), BENCH_IMPORT_ROWS (100000), BENCH_NODE_ARGS (server only), BENCH_TMPDIR (data/),
  DATABASE_URL=postgres://… for PostgreSQL`;

export class UsageError extends Error {}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, allowZero = false): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new UsageError(`${name} must be a whole number${allowZero ? '' : ' above 0'}, got "${raw}"`);
  }
  return value;
}

export function parseOptions(args: string[], env: NodeJS.ProcessEnv): BenchOptions {
  let mode: BenchOptions['mode'] = 'standard';
  for (const arg of args) {
    const modes: Record<string, BenchOptions['mode']> = {
      '--scale': 'scale',
      '--soak': 'soak',
      '--import': 'import',
      '--webhooks': 'webhooks',
    };
    if (Object.hasOwn(modes, arg)) {
      if (mode !== 'standard')
        throw new UsageError('--scale, --soak, --import and --webhooks are separate runs');
      mode = modes[arg];
    } else {
      throw new UsageError(`unknown argument ${arg}`);
    }
  }
  const scale = (env.BENCH_SCALE_USERS || '1000,1000000').split(',').map((s) => Number(s.replace(/_/g, '')));
  if (scale.length !== 2 || !scale.every((n) => Number.isInteger(n) && n > 0)) {
    throw new UsageError('BENCH_SCALE_USERS must be two sizes, e.g. 1000,1000000');
  }
  const soakEvery = positive(env, 'BENCH_SOAK_EVERY', 20_000);
  const soakRequests = positive(env, 'BENCH_SOAK_REQUESTS', 200_000);
  if (soakRequests % soakEvery !== 0)
    throw new UsageError('BENCH_SOAK_REQUESTS must be a multiple of BENCH_SOAK_EVERY');
  return {
    mode,
    users: positive(env, 'BENCH_USERS', 10_000),
    credentialUsers: positive(env, 'BENCH_CREDENTIAL_USERS', 1000),
    durationSeconds: positive(env, 'BENCH_DURATION', 10),
    rounds: positive(env, 'BENCH_ROUNDS', 3),
    warmupSeconds: positive(env, 'BENCH_WARMUP', 2, true),
    connections: positive(env, 'BENCH_CONNECTIONS', 32),
    scaleUsers: [scale[0], scale[1]],
    soakRequests,
    soakEvery,
    importRows: positive(env, 'BENCH_IMPORT_ROWS', 100_000),
    serverNodeArgs: (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  };
}

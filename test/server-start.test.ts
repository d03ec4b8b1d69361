import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './support/database';
import { bearer, gql } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const LISTENING = /users-api listening on (http:\/\/127\.0\.0\.1:\d+)/;
const DEMO_TOKEN = /Demo personal access token[^:]*: (pat_\S+)/;

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `npm run dev` as an operator would start it: its own process, configured only by the environment. */
describe('server start', () => {
  let database: TestDatabase;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await database.drop();
  });

  const start = (): Started => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: database.url,
      DATA_DIR: database.dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'test',
    };
    // The JWT secret is generated into DATA_DIR, as on a fresh machine.
    delete env.JWT_SECRET;
    const child = spawn(process.execPath, ['-r', '@swc-node/register', 'src/main.ts'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      }),
    );
    return { child, output: () => output, exit };
  };

  /** Resolves with the first match of `pattern` in the output; fails if the process exits first. */
  const waitFor = (started: Started, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(started.output());
        if (match) {
          cleanup();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${pattern}; output so far:\n${started.output()}`));
      }, timeoutMs);
      const onExit = () => {
        cleanup();
        reject(new Error(`server exited before printing ${pattern}; output:\n${started.output()}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        started.child.stdout!.off('data', check);
        started.child.off('exit', onExit);
      };
      started.child.stdout!.on('data', check);
      started.child.once('exit', onExit);
      check();
    });

  it('prints the URL and a working demo token once, and stops cleanly on SIGTERM', async () => {
    const first = start();
    const url = (await waitFor(first, LISTENING))[1];
    const token = (await waitFor(first, DEMO_TOKEN))[1];

    const res = await gql(
      url,
      'mutation { updateMe(input: { name: "Ada Lovelace" }) { name version role } }',
      {},
      bearer(token),
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.updateMe).toEqual({ name: 'Ada Lovelace', version: 2, role: 'ADMIN' });

    first.child.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });
    expect(first.output().match(new RegExp(DEMO_TOKEN.source, 'g'))).toHaveLength(1);

    // A second start on the same database seeds nothing and prints no new token; the old token still works.
    const second = start();
    const secondUrl = (await waitFor(second, LISTENING))[1];
    const me = await gql(secondUrl, '{ me { name version } }', {}, bearer(token));
    expect(me.body.data.me).toEqual({ name: 'Ada Lovelace', version: 2 });
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
    expect(second.output()).not.toMatch(/Demo personal access token|pat_/);
    expect(second.output()).toMatch(/SIGTERM received/);
  }, 120_000);
});

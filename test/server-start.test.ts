import net from 'node:net';
import { bearer, gql } from './support/harness';
import { startProcess, serverEnv, useDatabase, waitForOutput } from './support/processes';

const LISTENING = /users-api listening on (http:\/\/127\.0\.0\.1:\d+)/;
const DEMO_TOKEN = /Demo personal access token[^:]*: (pat_\S+)/;

/** `npm run dev` as an operator would start it: its own process, configured only by the environment. */
describe('server start', () => {
  const spawned = useDatabase('empty');

  /** Defaults as a new user has them: demo data on, a generated JWT secret. */
  const start = () => {
    const { DATABASE_URL, DATA_DIR, PORT, HOST, NODE_ENV } = serverEnv(spawned.database);
    return startProcess('src/main.ts', [], { DATABASE_URL, DATA_DIR, PORT, HOST, NODE_ENV }, [
      'JWT_SECRET',
      'SEED_DEMO_DATA',
      'LOG_LEVEL',
      'RATE_LIMIT_PER_MINUTE',
      'AUTH_FAILURE_LIMIT_PER_MINUTE',
    ]);
  };

  it('prints the URL and a working demo token once, and stops cleanly on SIGTERM', async () => {
    const first = start();
    const url = (await waitForOutput(first, LISTENING))[1];
    const token = (await waitForOutput(first, DEMO_TOKEN))[1];

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
    const secondUrl = (await waitForOutput(second, LISTENING))[1];
    const me = await gql(secondUrl, '{ me { name version } }', {}, bearer(token));
    expect(me.body.data.me).toEqual({ name: 'Ada Lovelace', version: 2 });
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
    expect(second.output()).not.toMatch(/Demo personal access token|pat_/);
    expect(second.output()).toMatch(/SIGTERM received/);
  }, 120_000);
});

describe('server start on a port in use', () => {
  const spawned = useDatabase('empty');

  it('fails saying so, and the demo token it created is printed all the same (the next start seeds nothing)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = String((taken.address() as net.AddressInfo).port);
    const { DATABASE_URL, DATA_DIR, HOST, NODE_ENV } = serverEnv(spawned.database);
    const env = { DATABASE_URL, DATA_DIR, HOST, NODE_ENV, SEED_DEMO_DATA: 'true', LOG_LEVEL: 'info' };
    const failed = startProcess('src/main.ts', [], { ...env, PORT: port });
    const exit = await failed.exit;
    taken.close();
    expect(exit.code).not.toBe(0);
    expect(failed.output()).toMatch(/EADDRINUSE/);
    const token = DEMO_TOKEN.exec(failed.output())?.[1];
    expect(token).toBeDefined();

    const next = startProcess('src/main.ts', [], { ...env, PORT: '0' });
    const url = (await waitForOutput(next, LISTENING))[1];
    const me = await gql(url, '{ me { email role } }', {}, bearer(token!));
    expect(me.body.data.me).toEqual({ email: 'admin@example.com', role: 'ADMIN' });
    next.child.kill('SIGTERM');
    expect(await next.exit).toEqual({ code: 0, signal: null });
    expect(next.output()).not.toMatch(/Demo personal access token/);
  }, 120_000);
});

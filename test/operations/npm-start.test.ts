import fs from 'node:fs';
import path from 'node:path';
import { migrations } from '../../src/migrations';
import { errorCode, rawRequest } from '../support/http';
import { serverEnv, startProcess, type Started, useDatabase, waitForOutput } from '../support/processes';

/**
 * `npm start` and `npm run cli` as an operator types them: npm's own command-line script, run by this
 * Node, in its own process. The start script builds first (prestart), so this file also leaves dist/ built.
 */
function npmCli(): string {
  // Set by npm for whatever it runs (`npm test`, .ci/run); npx sets it to its own script instead.
  const execPath = process.env.npm_execpath;
  if (execPath && path.basename(execPath) === 'npm-cli.js') return execPath;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const npm = path.join(dir, 'npm');
    if (dir && fs.existsSync(npm)) return fs.realpathSync(npm);
  }
  throw new Error('npm is not on PATH');
}

const npm = (args: string[], env: Record<string, string>): Started =>
  startProcess(npmCli(), ['--silent', ...args], env);

const LISTENING_LINE = /^.*users-api listening on (http:\/\/127\.0\.0\.1:\d+).*$/m;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

describe('npm start', () => {
  const spawned = useDatabase();

  it('builds, serves, writes only JSON lines, and passes SIGTERM on to node, which exits cleanly with npm', async () => {
    const started = npm(['start'], { ...serverEnv(spawned.database), NODE_ENV: 'production' });
    const listening = await waitForOutput(started, LISTENING_LINE, 120_000);
    // The banner is a JSON line that names the server's own process: node, not npm, nor a shell.
    const banner = JSON.parse(listening[0]);
    expect(banner).toMatchObject({
      level: 30,
      service: 'users-api',
      url: listening[1],
      database: expect.any(String),
    });
    const pid: number = banner.pid;
    expect(pid).not.toBe(started.child.pid);
    expect(isRunning(pid)).toBe(true);
    const url = listening[1];
    expect((await rawRequest(url, 'GET', '/readyz')).status).toBe(200);

    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 0, signal: null });
    expect(isRunning(pid)).toBe(false);
    const refused = await rawRequest(url, 'GET', '/healthz').then(
      (res) => `answered ${res.status}`,
      (error) => errorCode(error),
    );
    expect(refused).toBe('ECONNREFUSED');

    // `--silent` leaves npm's own lines out: everything written is the server's, one JSON object a line.
    const lines = started.output().split('\n').filter(Boolean);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.map((line) => JSON.parse(line).msg)).toContain(
      'SIGTERM received: finishing in-flight requests',
    );
  }, 180_000);
});

describe('npm run cli', () => {
  const spawned = useDatabase('empty');

  const cli = async (...args: string[]) => {
    const started = npm(['run', 'cli', '--', ...args], serverEnv(spawned.database));
    const { code } = await started.exit;
    return { code, output: started.output() };
  };

  it('runs the built CLI (dist/): `migrate` applies pending migrations once, then has nothing to do', async () => {
    expect(fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    const first = await cli('--json', 'migrate');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.output).applied).toHaveLength(migrations.length);
    const again = await cli('--json', 'migrate');
    expect({ code: again.code, result: JSON.parse(again.output) }).toEqual({
      code: 0,
      result: { applied: [] },
    });
  }, 60_000);
});

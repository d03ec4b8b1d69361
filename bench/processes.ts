import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

/** Every child the runner started, so that any exit path (failure, Ctrl-C) can kill them all. */
const children = new Set<ChildProcess>();

/** Registers a child for cleanup; it leaves the registry when it exits. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kills whatever is still running (synchronous, so it also works from process.on('exit')). */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** A listening HTTP process (the server or the baseline). */
export interface Listening {
  pid: number;
  url: string;
  /** The last lines it wrote, for error reports. */
  output(): string;
  /** VmRSS in kilobytes, read from /proc. */
  rssKb(): number;
  stop(): Promise<void>;
}

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const KEEP_OUTPUT = 16 * 1024;

/**
 * Starts `node args…` and resolves once it prints "… listening on http://127.0.0.1:PORT", which is how a
 * user learns the port picked by PORT=0.
 */
export function startListening(
  label: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<Listening> {
  const child = track(spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-KEEP_OUTPUT);
  };
  child.stderr!.on('data', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${label} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${error.message}\n--- ${label} output ---\n${output}`));
    };
    child.once('exit', (code, signal) =>
      fail(new Error(`${label} exited (${signal ?? code}) before listening`)),
    );
    child.once('error', fail);
    const waitForPort = (chunk: Buffer) => {
      keep(chunk);
      const match = LISTENING.exec(output);
      if (!match || !child.pid) return;
      // From now on only keep the tail: the pipe must be drained or a chatty server would block on it.
      child.stdout!.off('data', waitForPort).on('data', keep);
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.once('exit', () => children.delete(child));
      const pid = child.pid;
      resolve({
        pid,
        url: match[1],
        output: () => output,
        rssKb: () => readRssKb(pid),
        stop: () => stop(child),
      });
    };
    child.stdout!.on('data', waitForPort);
  });
}

/** SIGTERM (the server finishes in-flight requests and closes its database), SIGKILL if it hangs. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function readRssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

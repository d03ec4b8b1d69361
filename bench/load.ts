import { fork } from 'node:child_process';
import path from 'node:path';
import type { LoadJob, LoadResult, WorkerMessage } from './load-worker';
import { track } from './processes';

/**
 * Runs one job in a forked load worker (autocannon in its own process and event loop) and returns its
 * figures; `onProgress` sees the response count of soak runs.
 */
export function runLoad(job: LoadJob, onProgress?: (responses: number) => void): Promise<LoadResult> {
  const worker = track(
    fork(path.join(__dirname, 'load-worker.ts'), [], {
      execArgv: ['-r', '@swc-node/register'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  return new Promise((resolve, reject) => {
    let result: LoadResult | undefined;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') onProgress?.(message.responses);
      if (message.type === 'result') result = message.result;
    });
    worker.once('error', reject);
    worker.once('exit', (code, signal) => {
      if (result) resolve(result);
      else reject(new Error(`load worker for "${job.scenario}" exited (${signal ?? code}) without a result`));
    });
    worker.send(job);
  });
}

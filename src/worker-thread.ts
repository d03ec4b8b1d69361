import path from 'node:path';
import { type MessagePort, Worker, type ResourceLimits } from 'node:worker_threads';

/** A call to a worker thread, and its answer, by id. */
export interface ThreadCall<Call> {
  id: number;
  call: Call;
}
export interface ThreadAnswer<Answer> {
  id: number;
  answer: Answer;
}

/**
 * Calls to a worker thread running `<dir>/<name>.js` (built) or `.ts` (from source, compiled on load),
 * started on the first call. The calls of one loop turn leave in one message, so the thread is woken
 * once per turn, not per call. When the thread dies, what it was doing has an unknown outcome: those
 * calls get `failed(reason)`, and the next call starts a new thread.
 */
export class ThreadCalls<Call, Answer> {
  private thread: {
    worker: Worker;
    waiting: Map<number, (answer: Answer) => void>;
    queued: ThreadCall<Call>[];
  } | null = null;
  private nextId = 1;

  constructor(
    private readonly options: {
      dir: string;
      name: string;
      /** In failures: "the <label> thread failed". */
      label: string;
      workerData: unknown;
      resourceLimits?: ResourceLimits;
      failed(reason: string): Answer;
    },
  ) {}

  call(call: Call): Promise<Answer> {
    const thread = this.thread ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve) => {
      thread.waiting.set(id, resolve);
      if (thread.queued.length === 0) {
        setImmediate(() => {
          // A thread that died in the meantime has already failed what it had; its queue went with it.
          if (thread.queued.length > 0) thread.worker.postMessage(thread.queued.splice(0));
        });
      }
      thread.queued.push({ id, call });
    });
  }

  /** Stops the thread; calls still waiting get `failed`. */
  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = null;
    if (thread) await thread.worker.terminate();
  }

  private start() {
    const { dir, name, label, workerData, resourceLimits, failed } = this.options;
    const extension = path.extname(__filename);
    const worker = new Worker(path.join(dir, `${name}${extension}`), {
      workerData,
      execArgv: extension === '.ts' ? ['--require', '@swc-node/register'] : [],
      resourceLimits,
    });
    worker.unref();
    const thread = { worker, waiting: new Map<number, (answer: Answer) => void>(), queued: [] };
    worker.on('message', (answers: ThreadAnswer<Answer>[]) => {
      for (const { id, answer } of answers) {
        thread.waiting.get(id)?.(answer);
        thread.waiting.delete(id);
      }
    });
    const fail = (reason: string) => {
      if (this.thread === thread) this.thread = null;
      for (const resolve of thread.waiting.values()) resolve(failed(reason));
      thread.waiting.clear();
    };
    worker.on('error', (error) => fail(`The ${label} thread failed: ${error.message}`));
    worker.on('exit', (code) => fail(`The ${label} thread stopped (exit code ${code})`));
    this.thread = thread;
    return thread;
  }
}

/**
 * In a worker thread: takes the calls `ThreadCalls` sends, and returns `answer(id, value)`, whose
 * answers of one loop turn leave together, so the calling thread is woken once per turn.
 */
export function answerCalls<Call, Answer>(
  port: MessagePort,
  onCalls: (calls: ThreadCall<Call>[]) => void,
): (id: number, answer: Answer) => void {
  port.on('message', onCalls);
  const answers: ThreadAnswer<Answer>[] = [];
  return (id, answer) => {
    if (answers.length === 0) setImmediate(() => port.postMessage(answers.splice(0)));
    answers.push({ id, answer });
  };
}

/** How often failing runs are reported while they go on failing. */
const FAILURE_REPORT_INTERVAL_MS = 60_000;

/**
 * Runs an outbox's sending `work` one run at a time: every `pollIntervalMs` (what other processes or
 * the CLI queued, retries that fall due) and when woken by a commit, at most every `minGapMs` (so that
 * under a stream of writes one run takes what that while brought). A wake during a run makes one more
 * run after it.
 */
export class OutboxLoop {
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private lastRun = 0;
  /** When the failures since the last run that succeeded were last reported (0: none failed). */
  private failureReported = 0;
  /** Read by `work` between its steps: once set, it stops early. */
  stopped = false;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly options: { pollIntervalMs: number; minGapMs: number; onError(error: unknown): void },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.run(), this.options.pollIntervalMs);
    this.timer.unref();
    this.run();
  }

  /** A commit queued something: a run no sooner than `minGapMs` after the last one began. */
  wake(): void {
    if (this.soon || this.stopped) return;
    const wait = Math.max(0, this.lastRun + this.options.minGapMs - Date.now());
    this.soon = setTimeout(() => {
      this.soon = null;
      this.run();
    }, wait);
    this.soon.unref();
  }

  /** Waits for the run in progress, and starts no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
    await this.running;
  }

  private run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.lastRun = Date.now();
    this.running = this.work()
      .then(() => {
        this.failureReported = 0;
      })
      .catch((error: unknown) => {
        // A database that is down fails every run: reported when it starts, then once a minute.
        if (Date.now() - this.failureReported < FAILURE_REPORT_INTERVAL_MS) return;
        this.failureReported = Date.now();
        this.options.onError(error);
      })
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }
}

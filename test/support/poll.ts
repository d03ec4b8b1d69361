/** How `pollUntil` keeps trying. */
export interface PollOptions<T> {
  /** How long to keep trying (10 s unless said). */
  timeoutMs?: number;
  /** The pause between two tries (20 ms unless said). */
  intervalMs?: number;
  /**
   * The error's message when `done` never held. Without it the last value is returned, for the
   * caller's assertions to say what is wrong with it.
   */
  failure?: (last: T) => string;
}

/** Reads `read()` until `done` holds of what it returned, and returns that. */
export async function pollUntil<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  options: PollOptions<T> = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 20, failure } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      if (failure) throw new Error(failure(value));
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

import vm from 'node:vm';
import FakeTimers from '@sinonjs/fake-timers';

/**
 * The globals the app's code runs with. Jest gives each test file a sandbox with globals of its own,
 * but the app's modules and packages load once per Jest worker, outside that sandbox
 * (shared-modules-runtime.js): a test that stubs the app's clock or checks the app's prototypes must
 * use these, not its own `Date` and `Object`.
 */
export const appGlobals = vm.runInThisContext('globalThis') as typeof globalThis;

/**
 * Runs `work` with the app's clock `ms` ahead (none when `ms` is not positive: that time has passed
 * already): its `Date` only (timers keep real time, and the clock goes on from there). For what
 * happens once a credential expires, without waiting for it.
 */
export async function withAppClockAhead<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const clock = FakeTimers.withGlobal(appGlobals).install({
    now: appGlobals.Date.now() + Math.max(0, ms),
    toFake: ['Date'],
    shouldAdvanceTime: true,
  });
  try {
    return await work();
  } finally {
    clock.uninstall();
  }
}

import vm from 'node:vm';

/**
 * The globals the app's code runs with. Jest gives each test file a sandbox with globals of its own,
 * but the app's modules and packages load once per Jest worker, outside that sandbox
 * (shared-modules-runtime.js): a test that stubs the app's clock or checks the app's prototypes must
 * use these, not its own `Date` and `Object`.
 */
export const appGlobals = vm.runInThisContext('globalThis') as typeof globalThis;

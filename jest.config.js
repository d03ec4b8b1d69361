const os = require('node:os');
const { SWC_OPTIONS } = require('./scripts/build');

/** Jest compiles TypeScript as `npm run build` does (scripts/build.js), its source maps inline. */
const swc = { ...SWC_OPTIONS, sourceMaps: 'inline' };

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // The app's code and packages load once per worker, not once per test file (see the file).
  runtime: '<rootDir>/test/support/shared-modules-runtime.js',
  testTimeout: 60000,
  // Suites spend much of their time waiting on sockets, timers and child processes: two workers a core
  // keep the cores busy (fewer leave them idle; more only add each worker's start-up).
  maxWorkers: process.env.JEST_MAX_WORKERS || os.availableParallelism() * 2,
};

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
  // Suites spend about a third of their time waiting on sockets and child processes: three workers
  // for two cores keep the cores busy (four were slower than three on Node 20, and only a little
  // faster on Node 24).
  maxWorkers: process.env.JEST_MAX_WORKERS || Math.ceil(os.availableParallelism() * 1.5),
};

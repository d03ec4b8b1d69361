/** Jest runs the TypeScript sources through SWC with the decorator settings TypeORM and type-graphql need. */
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/compiled-threads.ts'],
  testTimeout: 60000,
  // Suites wait on sockets and child processes most of the time: one worker per core keeps the cores busy.
  maxWorkers: process.env.JEST_MAX_WORKERS || '100%',
};

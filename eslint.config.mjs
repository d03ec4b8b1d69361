import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/', 'jest.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain Node.js scripts (CommonJS).
    files: ['scripts/**/*.js', 'test/support/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        console: 'readonly',
        process: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // src/ and the packages load once per Jest worker, outside Jest's module registry
    // (test/support/shared-modules-runtime.js): a module mock would not reach them.
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...[
          'mock',
          'doMock',
          'unmock',
          'dontMock',
          'setMock',
          'requireActual',
          'createMockFromModule',
          'resetModules',
          'isolateModules',
          'isolateModulesAsync',
        ].map((property) => ({
          object: 'jest',
          property,
          message:
            'src/ and the packages are loaded once per Jest worker (shared-modules-runtime.js): spy instead.',
        })),
      ],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);

'use strict';
/**
 * Jest's module runtime, with one change: the app's code (src/) and the packages load once per Jest
 * worker, by Node itself, instead of again inside every test file's sandbox. Loading typeorm,
 * type-graphql, Apollo Server and the app in each of the sixty-odd files cost about 1.6 s of CPU a file,
 * which was close to half of the suite's CPU.
 *
 * - src/ is loaded from the copy the run compiles once in global setup (test/support/build.ts), with
 *   inline source maps, so a stack trace still names the line in src/*.ts.
 * - Test files and test/support stay in Jest's sandbox as before; Jest's own packages too.
 * - What this gives up: module mocks (`jest.mock` and the like) cannot reach src/ or a package, so
 *   the lint refuses them under test/; and the app's globals are the worker's, not the test file's
 *   (test/support/app-globals.ts). `jest.spyOn` works as before, and Jest restores spies after a file.
 * - A run in one process (one file, or `-i`) under `jest --watch` keeps src/ as it first loaded it:
 *   restart it after changing src/.
 */
const fs = require('node:fs');
const path = require('node:path');
const { default: Runtime } = require('jest-runtime');

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'src') + path.sep;
const JEST_OWN = /[\\/]node_modules[\\/](jest-[^\\/]+|@jest[\\/][^\\/]+|expect|@types[\\/][^\\/]+)[\\/]/;

/** The file Node should load for `moduleName` required from `from`, or null when Jest's sandbox loads it. */
function sharedModule(from, moduleName) {
  if (moduleName.startsWith('.') || path.isAbsolute(moduleName)) {
    const target = path.resolve(path.dirname(from), moduleName);
    if (!target.startsWith(SRC)) return null;
    const source = [target, `${target}.ts`, path.join(target, 'index.ts')].find(
      (file) => file.endsWith('.ts') && fs.existsSync(file),
    );
    if (!source) return null;
    // Set by buildSources (test/support/build.ts) in global setup, before Jest starts its workers.
    const build = process.env.USERS_API_TEST_BUILD;
    const built = build && path.join(build, path.relative(ROOT, source)).replace(/\.ts$/, '.js');
    if (!built || !fs.existsSync(built)) {
      throw new Error(
        `src/ is not built for ${source}: Jest's global setup (test/support/global-setup.ts) builds it`,
      );
    }
    return built;
  }
  if (moduleName === '@jest/globals' || moduleName.startsWith('node:')) return null;
  let file;
  try {
    file = require.resolve(moduleName, { paths: [path.dirname(from)] });
  } catch {
    return null; // Jest's own resolution reports it, with its hints
  }
  return path.isAbsolute(file) && !JEST_OWN.test(file) ? file : null;
}

// Stack traces through src/ name the TypeScript lines (the build carries inline source maps).
process.setSourceMapsEnabled(true);

module.exports = class SharedModulesRuntime extends Runtime {
  requireModuleOrMock(from, moduleName) {
    const file = sharedModule(from, moduleName);
    return file ? require(file) : super.requireModuleOrMock(from, moduleName);
  }

  teardown() {
    super.teardown();
    // Where NODE_COMPILE_CACHE is on (global setup, Node 22 and later), the compiled code of what this
    // file loaded is written now: left to the worker's exit, writing it all could outlast the time Jest
    // gives a worker to exit, and Jest would kill it with a warning about leaked handles.
    require('node:module').flushCompileCache?.();
  }
};

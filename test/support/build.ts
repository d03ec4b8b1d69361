import fs from 'node:fs';
import path from 'node:path';
import { type Options, transformFileSync } from '@swc/core';
// scripts/build.js is CommonJS: `npm run build` runs it as it is.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { SWC_OPTIONS, filesIn } = require('../../scripts/build') as {
  SWC_OPTIONS: Options;
  filesIn(folder: string, extension: string): string[];
};

const ROOT = path.resolve(__dirname, '..', '..');
/** Inside the repository (git-ignored with node_modules), so the built files find the installed packages. */
const BUILD = path.join(ROOT, 'node_modules', '.cache', 'users-api-tests');
/** Names BUILD to the Jest workers (shared-modules-runtime.js), which global setup starts after building. */
const BUILD_ENV = 'USERS_API_TEST_BUILD';

/**
 * Compiles src/ once per test run for everything in the run that runs the app: the Jest workers
 * (shared-modules-runtime.js; the inline source maps make their stack traces name src/*.ts), the
 * app's worker threads, and the servers and CLI processes the tests start. Compiling the sources again
 * on each load cost about 0.2 s of CPU a process.
 *
 * Another run in the same checkout may be loading these files: only a file whose code changed is
 * written, by renaming a complete new file over it, and only files whose source is gone are removed.
 */
export function buildSources(): void {
  // As `npm run build` compiles (the same options), with inline source maps.
  const options: Options = { ...SWC_OPTIONS, sourceMaps: 'inline' };
  const built = new Set<string>();
  for (const file of filesIn(path.join(ROOT, 'src'), '.ts')) {
    const target = builtEntry(path.relative(ROOT, file));
    built.add(target);
    const code = transformFileSync(file, options).code;
    if (fs.existsSync(target) && fs.readFileSync(target, 'utf8') === code) continue;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const written = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(written, code);
    fs.renameSync(written, target);
  }
  for (const file of filesIn(path.join(BUILD, 'src'), '.js')) if (!built.has(file)) fs.rmSync(file);
  process.env[BUILD_ENV] = BUILD;
}

/** The built form of a source entry point (`src/main.ts` → its .js in the build). */
export function builtEntry(entry: string): string {
  return path.join(BUILD, entry.replace(/\.ts$/, '.js'));
}

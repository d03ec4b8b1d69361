import fs from 'node:fs';
import path from 'node:path';
import { transformFileSync } from '@swc/core';

const ROOT = path.resolve(__dirname, '..', '..');
/** Inside the repository (git-ignored with node_modules), so the built files find the installed packages. */
const BUILD = path.join(ROOT, 'node_modules', '.cache', 'users-api-tests');
/** Names BUILD to the Jest workers (shared-modules-runtime.js), which global setup starts after building. */
const BUILD_ENV = 'USERS_API_TEST_BUILD';

/** The options Jest compiles TypeScript with (jest.config.js): the built code is what Jest would run. */
function swcOptions(): Record<string, unknown> {
  // jest.config.js is CommonJS, read as Jest reads it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require(path.join(ROOT, 'jest.config.js')) as {
    transform: Record<string, [string, Record<string, unknown>]>;
  };
  return Object.values(config.transform)[0][1];
}

/** The files under `folder` (recursively) whose names end with `extension`, declaration files left out. */
function filesIn(folder: string, extension: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(folder, entry.name);
    if (entry.isDirectory()) return filesIn(file, extension);
    return entry.name.endsWith(extension) && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

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
  const options = swcOptions();
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

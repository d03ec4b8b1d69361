import fs from 'node:fs';
import path from 'node:path';
import { transformFileSync } from '@swc/core';

const ROOT = path.resolve(__dirname, '..', '..');
/** Inside the repository (git-ignored with node_modules), so the built files find the installed packages. */
const BUILD = path.join(ROOT, 'node_modules', '.cache', 'users-api-tests');

/** The options Jest compiles TypeScript with (jest.config.js): the built code is what Jest would run. */
function swcOptions(): Record<string, unknown> {
  // jest.config.js is CommonJS, read as Jest reads it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const config = require(path.join(ROOT, 'jest.config.js')) as {
    transform: Record<string, [string, Record<string, unknown>]>;
  };
  return Object.values(config.transform)[0][1];
}

function sources(folder: string): string[] {
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(folder, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

/**
 * Compiles src/ once per test run, with inline source maps, for everything in the run that runs the
 * app: the Jest workers (shared-modules-runtime.js), the app's worker threads, and the servers and CLI
 * processes the tests start. Compiling the sources again on each load cost about 0.2 s of CPU a process.
 */
export function buildSources(): void {
  const options = swcOptions();
  fs.rmSync(BUILD, { recursive: true, force: true });
  for (const file of sources(path.join(ROOT, 'src'))) {
    const target = path.join(BUILD, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, transformFileSync(file, options).code);
  }
}

/** The built form of a source entry point (`src/main.ts` → its .js in the build). */
export function builtEntry(entry: string): string {
  return path.join(BUILD, entry.replace(/\.ts$/, '.js'));
}

import fs from 'node:fs';
import path from 'node:path';
import { transformFileSync } from '@swc/core';

const ROOT = path.resolve(__dirname, '..', '..');
/** Inside the repository (git-ignored with node_modules), so the built files find the installed packages. */
const BUILD = path.join(ROOT, 'node_modules', '.cache', 'users-api-tests');

/** The options Jest compiles the sources with (jest.config.js), so a spawned process runs the same code. */
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
 * Compiles src/ once per test run for the servers and CLI processes the tests start: each of them
 * compiling the sources again on load cost about 0.2 s of CPU per process.
 */
export function buildForProcesses(): void {
  const options = { ...swcOptions(), sourceMaps: false };
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

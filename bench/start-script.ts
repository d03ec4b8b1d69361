import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/**
 * The Node arguments of `npm start` (package.json: `[exec] node <arguments…> dist/src/main.js`; `exec` so
 * that the shell hands SIGTERM straight to node), so that the
 * benchmark starts the built server exactly as production does, flags included. A start script of
 * any other shape is an error rather than a silent difference between the two.
 */
export function startScriptNodeArgs(script = readStartScript()): string[] {
  const words = script.trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  const entry = words.length - 1;
  if (
    words[0] !== 'node' ||
    words[entry] !== 'dist/src/main.js' ||
    words.slice(1, entry).some((w) => !w.startsWith('--'))
  ) {
    throw new Error(
      `package.json's start script should be "exec node [--flags…] dist/src/main.js", got "${script}"`,
    );
  }
  return words.slice(1, entry);
}

function readStartScript(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return manifest.scripts?.start ?? '';
}

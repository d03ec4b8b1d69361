'use strict';
/**
 * `npm run build`: compiles src/ and ormconfig.ts into dist/ (dist/src/main.js, dist/ormconfig.js)
 * with SWC, the compiler and options the test suite runs the code through (jest.config.js and
 * test/support/build.ts take `swcOptions` from here), so what ships is what was tested. It takes a
 * fraction of a second; types are checked by `npm run typecheck` (CI and the container build run it).
 */
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');

/** The decorator settings TypeORM and type-graphql need (tsconfig.json's, as SWC names them). */
const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

/** The files under `folder` (recursively) whose names end with `extension`, declaration files left out. */
function filesIn(folder, extension) {
  if (!fs.existsSync(folder)) return [];
  return fs.readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(folder, entry.name);
    if (entry.isDirectory()) return filesIn(file, extension);
    return entry.name.endsWith(extension) && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

/** Compiles one file: the code, and its source map naming the TypeScript file relative to `target`. */
function compile(file, target) {
  const { transformFileSync } = require('@swc/core');
  const { code, map } = transformFileSync(file, { ...swcOptions, sourceMaps: true });
  const sourceMap = JSON.parse(map);
  sourceMap.sources = [path.relative(path.dirname(target), file)];
  return {
    code: `${code}\n//# sourceMappingURL=${path.basename(target)}.map\n`,
    map: JSON.stringify(sourceMap),
  };
}

/** Builds dist/ anew (a file whose source is gone must not stay behind). */
function build() {
  fs.rmSync(DIST, { recursive: true, force: true });
  const sources = [path.join(ROOT, 'ormconfig.ts'), ...filesIn(path.join(ROOT, 'src'), '.ts')];
  for (const file of sources) {
    const target = path.join(DIST, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    const { code, map } = compile(file, target);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, code);
    fs.writeFileSync(`${target}.map`, map);
  }
}

module.exports = { swcOptions, filesIn };

if (require.main === module) build();

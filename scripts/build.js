'use strict';
/**
 * `npm run build`: compiles ormconfig.ts and src/ into dist/ with SWC, file by file, with source maps
 * beside them. The tests compile the same files with the same options (jest.config.js,
 * test/support/build.ts), so what runs in production is the code the tests ran. Types are checked
 * separately (`npm run typecheck`, which CI runs): compiling without them takes a fraction of a second
 * instead of several, and `npm start` builds before every start.
 */
const fs = require('node:fs');
const path = require('node:path');
const { transformFileSync } = require('@swc/core');

const ROOT = path.resolve(__dirname, '..');

/** TypeScript as tsconfig.json describes it, with the decorator settings TypeORM and type-graphql need. */
const SWC_OPTIONS = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
    target: 'es2022',
  },
  module: { type: 'commonjs' },
  // Only these options: a .swcrc beside a file would otherwise be merged in.
  swcrc: false,
  configFile: false,
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

/** The project's TypeScript that runs: ormconfig.ts (the TypeORM CLI's data source) and src/. */
function sources() {
  return [path.join(ROOT, 'ormconfig.ts'), ...filesIn(path.join(ROOT, 'src'), '.ts')];
}

/** `source` compiled, with its source map in a `.js.map` file beside it, as `tsc` lays them out. */
function compileWithMap(source, target) {
  const { code, map } = transformFileSync(source, {
    ...SWC_OPTIONS,
    sourceMaps: true,
    // As tsc writes them: the map points at the source file instead of carrying a copy of it.
    inlineSourcesContent: false,
    sourceFileName: path.relative(path.dirname(target), source),
  });
  return { code: `${code}\n//# sourceMappingURL=${path.basename(target)}.map\n`, map };
}

/** Builds into a folder beside `outDir`, then puts it in place: a build that fails leaves the last one whole. */
function build(outDir) {
  const building = `${outDir}.${process.pid}.tmp`;
  fs.rmSync(building, { recursive: true, force: true });
  try {
    for (const source of sources()) {
      const target = path.join(building, path.relative(ROOT, source)).replace(/\.ts$/, '.js');
      const { code, map } = compileWithMap(source, target);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, code);
      fs.writeFileSync(`${target}.map`, map);
    }
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(building, outDir);
  } catch (error) {
    fs.rmSync(building, { recursive: true, force: true });
    throw error;
  }
}

module.exports = { SWC_OPTIONS, filesIn };

if (require.main === module) build(path.join(ROOT, 'dist'));

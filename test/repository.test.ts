import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ContractId, contract, contractValidator } from './rest/rest-support';

/**
 * A fresh clone must be self-sufficient: nothing in the scanned folders and files may name a file above the
 * repository root (the endpoint documents once lived in a folder beside the repository; the tests now
 * read their transcriptions in test/contracts instead).
 */
const ROOT = path.resolve(__dirname, '..');
const SCANNED = [
  'test',
  'src',
  'bench',
  'scripts',
  '.ci',
  'docs',
  'README.md',
  '.env.example',
  'Dockerfile',
  'compose.yaml',
];

/** Built at run time so this file does not name them itself. */
const MARKERS = [['shared', 'seeds'].join('/'), ['..', 'shared'].join('/')];

/**
 * Strings that look like an escape but name no file: each entry is one file and one exact token,
 * with the reason it is harmless.
 */
const ALLOWED: Array<{ file: string; token: string; why: string }> = [
  {
    file: 'test/security/authentication.test.ts',
    token: '../'.repeat(6) + 'dev/null',
    why: 'a hostile JWT `kid` value sent to the server, which must refuse it; never opened as a file',
  },
];

interface Finding {
  file: string;
  line: number;
  text: string;
  reason: string;
}

/** Tracked and untracked, non-ignored files under the scanned folders, relative to ROOT with `/`. */
function repositoryFiles(): string[] {
  let listed: string[];
  try {
    const exclude = path.join(ROOT, '.git', 'info', 'exclude');
    const output = execFileSync(
      'git',
      [
        'ls-files',
        '-z',
        '--cached',
        '--others',
        // The repository's own ignore rules only, so the result does not depend on the machine's git setup.
        '--exclude-per-directory=.gitignore',
        ...(fs.existsSync(exclude) ? [`--exclude-from=${exclude}`] : []),
        '--',
        ...SCANNED,
      ],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    listed = output.split('\0').filter(Boolean);
  } catch {
    listed = SCANNED.flatMap((folder) => walk(folder));
  }
  return [...new Set(listed)].filter((file) => fs.statSync(path.join(ROOT, file)).isFile()).sort();
}

/** Without git (an exported tree): every file, minus the folders .gitignore names. */
function walk(folder: string): string[] {
  const skipped = new Set(['node_modules', 'dist', 'coverage', 'data', 'artifacts', 'results']);
  const absolute = path.join(ROOT, folder);
  if (!fs.existsSync(absolute)) return [];
  if (fs.statSync(absolute).isFile()) return [folder];
  return fs.readdirSync(absolute, { withFileTypes: true }).flatMap((entry) => {
    const relative = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return skipped.has(entry.name) ? [] : walk(relative);
    return entry.isFile() ? [relative] : [];
  });
}

/** Follows `relative` from `depth` folders below the root; `out` when it ever goes above the root. */
function climbs(depth: number, relative: string): { depth: number; out: boolean } {
  for (const segment of relative.split(/[\\/]+/)) {
    if (segment === '..') depth -= 1;
    else if (segment !== '' && segment !== '.') depth += 1;
    if (depth < 0) return { depth, out: true };
  }
  return { depth, out: false };
}

const lineOf = (source: string, index: number) => source.slice(0, index).split('\n').length;

/** Splits call arguments at top-level commas (outside quotes and brackets). */
function splitArguments(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  let nesting = 0;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quote) {
      if (char === '\\') {
        current += char + (text[i + 1] ?? '');
        i += 1;
        continue;
      }
      if (char === quote) quote = null;
    } else if (char === "'" || char === '"' || char === '`') {
      quote = char;
    } else if ('([{'.includes(char)) {
      nesting += 1;
    } else if (')]}'.includes(char)) {
      nesting -= 1;
    } else if (char === ',' && nesting === 0) {
      parts.push(current.trim());
      current = '';
      continue;
    }
    current += char;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/** Every place in one file's text that names a path above the repository root. */
function findEscapes(file: string, source: string): Finding[] {
  const findings: Finding[] = [];
  const directoryDepth = path.posix.dirname(file).split('/').length;
  const report = (index: number, text: string, reason: string) => {
    if (ALLOWED.some((allowed) => allowed.file === file && allowed.token === text)) return;
    findings.push({ file, line: lineOf(source, index), text, reason });
  };

  // 1. The old location of the endpoint documents.
  for (const marker of MARKERS) {
    for (let index = source.indexOf(marker); index !== -1; index = source.indexOf(marker, index + 1)) {
      report(index, marker, 'names the folder beside the repository');
    }
  }

  // 2. Any relative path token ('../x' in a string, an import, a Markdown link, a shell argument),
  //    resolved against the file's own folder. `...spread` and `a/../b` are not tokens of this kind.
  const token = /(?<![\w.\\/$-])\/?\.\.(?=$|[\\/'"`\s,;)\]}])[^\s'"`,;)\]}$]*/gm;
  for (const match of source.matchAll(token)) {
    const text = match[0].replace(/^\//, '');
    if (climbs(directoryDepth, text).out)
      report(match.index, text, 'a relative path that climbs above the root');
  }

  // 3. path.resolve / path.join with several arguments ('..', '..', '..'), which climb only together.
  const call = /\b(?:resolve|join)\s*\(((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)/g;
  for (const match of source.matchAll(call)) {
    let depth = directoryDepth;
    let named = false;
    for (const argument of splitArguments(match[1])) {
      if (argument === '__dirname' || argument === 'import.meta.dirname') {
        depth = directoryDepth;
        continue;
      }
      if (argument === 'process.cwd()') {
        depth = 0;
        continue;
      }
      const literal = /^(['"`])(.*)\1$/s.exec(argument);
      if (!literal) continue; // another expression: its value is unknown, so the base stays where it was
      const value = literal[2].split('${')[0];
      if (path.posix.isAbsolute(value) || path.win32.isAbsolute(value)) break; // not a relative climb
      const step = climbs(depth, value);
      named ||= value.split(/[\\/]+/).includes('..');
      if (step.out && named) {
        report(
          match.index,
          match[0].replace(/\s+/g, ' '),
          'path arguments that together climb above the root',
        );
        break;
      }
      depth = step.depth;
    }
  }

  // 4. The absolute path of the folder that holds the repository (machine-specific and outside it).
  // A clone may sit in a shared folder (the temp folder, a home folder): paths there are not about it.
  const parent = path.dirname(ROOT);
  const shared = [path.parse(parent).root, os.tmpdir(), os.homedir()].map((folder) => path.resolve(folder));
  if (!shared.includes(parent)) {
    const inside = `${parent}/${path.basename(ROOT)}`;
    for (
      let index = source.indexOf(`${parent}/`);
      index !== -1;
      index = source.indexOf(`${parent}/`, index + 1)
    ) {
      const before = index === 0 ? '' : source[index - 1];
      const intoRepository =
        source.startsWith(inside, index) && /^($|[^\w.-])/.test(source.slice(index + inside.length));
      if (!/[\w.-]/.test(before) && !intoRepository)
        report(index, `${parent}/`, 'an absolute path outside the root');
    }
  }
  return findings;
}

describe('the repository is self-sufficient', () => {
  it('lists the files it scans from inside the repository', () => {
    const files = repositoryFiles();
    expect(files).toContain('test/repository.test.ts');
    expect(files).toContain('test/rest/rest-support.ts');
    expect(files.some((file) => file.startsWith('src/'))).toBe(true);
    expect(files.some((file) => file.includes('node_modules/'))).toBe(false);
  });

  it('no file under test/, src/, bench/, scripts/ or .ci/ names a path above the repository root', () => {
    const findings = repositoryFiles().flatMap((file) => {
      const content = fs.readFileSync(path.join(ROOT, file));
      if (content.includes(0)) return []; // binary
      return findEscapes(file, content.toString('utf8'));
    });
    expect(findings).toEqual([]);
  });

  describe('the check itself', () => {
    const up = (count: number) => Array(count).fill('..').join('/');
    const escapes = (file: string, source: string) => findEscapes(file, source).map((f) => f.reason);

    it.each([
      ['test/rest/x.ts', `const dir = path.resolve(__dirname, '${up(3)}');`],
      ['test/rest/x.ts', `const dir = path.resolve(__dirname, '${up(3)}/elsewhere');`],
      ['test/rest/x.ts', `const dir = path.join(__dirname, ${Array(3).fill("'..'").join(', ')}, 'x');`],
      ['test/rest/x.ts', `const dir = path.resolve(\n  __dirname,\n  '${up(2)}',\n  '..',\n);`],
      ['test/x.ts', `import data from '${up(2)}/data.json';`],
      ['src/x.ts', `const docs = '${MARKERS[0]}';`],
      ['test/x.ts', `const docs = '${MARKERS[1]}/x';`],
      ['.ci/run', `cat ${up(2)}/x.txt`],
      ['bench/README.md', `see [the notes](${up(2)}/notes.md)`],
      ['test/rest/x.ts', `const back = '${up(3)}/${path.basename(ROOT)}/src';`],
    ])('flags %s: %s', (file, source) => {
      expect(escapes(file, source)).not.toEqual([]);
    });

    it.each([
      ['test/rest/x.ts', `import { app } from '${up(2)}/src/app';`],
      ['test/rest/x.ts', `const root = path.resolve(__dirname, '${up(2)}');`],
      ['test/rest/x.ts', `const root = path.join(__dirname, ${"'..', ".repeat(2)}'src');`],
      ['test/x.ts', 'const all = { ...rest, ...other }; const text = "wait...";'],
      ['test/x.ts', "const pathname = ['a', 'b'].join('/'); const abs = path.resolve('/tmp', 'x');"],
      ['.ci/run', 'cd "$(dirname "$0")/.."'],
      ['test/x.ts', `const inside = '${ROOT}/src/app.ts';`],
    ])('passes %s: %s', (file, source) => {
      expect(escapes(file, source)).toEqual([]);
    });
  });
});

describe('the endpoint contracts in test/contracts', () => {
  const ids: ContractId[] = ['000', '001', '002', '003', '004'];

  it('holds exactly one contract file per documented endpoint, and a README', () => {
    const files = fs.readdirSync(path.join(__dirname, 'contracts')).sort();
    expect(files).toEqual([
      '000-put-current-user.json',
      '001-patch-me.json',
      '002-patch-user-v1.json',
      '003-post-user-by-numeric-id.json',
      '004-patch-user-api-v1.json',
      'README.md',
    ]);
  });

  it.each(ids)('contract %s states every fact and its schemas compile', (id) => {
    const c = contract(id);
    expect(c).toMatchObject({
      id,
      documentedPath: expect.stringMatching(/^\//),
      paths: expect.arrayContaining([expect.stringMatching(/^\//)]),
      method: expect.stringMatching(/^(PUT|PATCH|POST)$/),
      credential: {
        text: expect.any(String),
        kinds: expect.arrayContaining([expect.any(String)]),
        sources: expect.arrayContaining([
          expect.objectContaining({
            in: expect.stringMatching(/^(header|cookie)$/),
            name: expect.any(String),
          }),
        ]),
      },
      requestSchema: expect.any(Object),
      responses: expect.objectContaining({ '200': expect.any(Object) }),
    });
    expect(c.paths.some((p) => p.endsWith(c.documentedPath))).toBe(true);
    const validator = contractValidator(id);
    const names = ['request', ...Object.keys(c.responses), ...Object.keys(c.components?.schemas ?? {})];
    for (const name of names) expect(typeof validator(name)).toBe('function');
  });

  it.each(ids)("contract %s accepts the document's own examples", (id) => {
    const c = contract(id);
    const validator = contractValidator(id);
    // Whole examples of a request or response, and the examples the document gives single properties.
    const ofProperties = Object.entries(c.components?.schemas ?? {}).flatMap(
      ([name, schema]: [string, any]) =>
        Object.entries(schema.properties ?? {})
          .filter(([, property]: [string, any]) => Object.hasOwn(property, 'example'))
          .map(([key, property]: [string, any]) => [`${name}.${key}`, property.example]),
    ) as Array<[string, unknown]>;
    const examples: Array<[string, unknown]> = [
      ...((c.requestSchema as any).examples ?? []).map((e: unknown) => ['request', e]),
      ...Object.entries(c.responses).flatMap(([status, schema]: [string, any]) =>
        (schema.examples ?? []).map((e: unknown) => [status, e]),
      ),
      ...ofProperties,
    ];
    // Document 001 gives no example; every other document does.
    expect({ id, examples: examples.length > 0 }).toEqual({ id, examples: id !== '001' });
    for (const [name, example] of examples) {
      const validate = validator(name);
      expect({ name, valid: validate(example), errors: validate.errors ?? null }).toEqual({
        name,
        valid: true,
        errors: null,
      });
    }
  });
});

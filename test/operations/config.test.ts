import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Every environment variable src/config.ts reads: `env.NAME`, `env['NAME']` and helpers' `env, 'NAME'`. */
function settingsReadByConfig(): string[] {
  const source = read('src/config.ts');
  const names = new Set<string>();
  for (const pattern of [
    /\benv\.([A-Z][A-Z0-9_]*)/g,
    /\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g,
    /\benv, '([A-Z][A-Z0-9_]*)'/g,
  ]) {
    for (const match of source.matchAll(pattern)) names.add(match[1]);
  }
  return [...names].sort();
}

/** `.env.example` as name → value, and the comment line above each entry. */
function parseEnvExample(): { values: Record<string, string>; comments: Record<string, string> } {
  const lines = read('.env.example').split('\n');
  const values: Record<string, string> = {};
  const comments: Record<string, string> = {};
  lines.forEach((line, index) => {
    const entry = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!entry) {
      expect(line === '' || line.startsWith('#')).toBe(true);
      return;
    }
    expect(values[entry[1]]).toBeUndefined();
    // Quoted as a shell (and compose, and `node --env-file`) would read it.
    values[entry[1]] = entry[2].replace(/^'(.*)'$/, '$1');
    comments[entry[1]] = index > 0 && lines[index - 1].startsWith('# ') ? lines[index - 1] : '';
  });
  return { values, comments };
}

describe('settings documentation', () => {
  const names = settingsReadByConfig();
  const { values, comments } = parseEnvExample();

  it('finds the settings src/config.ts reads', () => {
    expect(names).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL']));
    expect(names.length).toBeGreaterThanOrEqual(20);
    // No other source file reads the environment (config.ts is the only reader).
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (file.endsWith('.ts') && !file.endsWith(`${path.sep}config.ts`)) {
          if (/process\.env\b/.test(fs.readFileSync(file, 'utf8'))) offenders.push(path.relative(ROOT, file));
        }
      }
    };
    walk(path.join(ROOT, 'src'));
    expect(offenders).toEqual([]);
  });

  it('.env.example lists every setting src/config.ts reads, each under a comment saying what it means', () => {
    expect(names.filter((name) => !(name in values))).toEqual([]);
    expect(Object.keys(values).filter((name) => !names.includes(name))).toEqual([]);
    for (const name of names) expect(`${name}: ${comments[name]}`).toMatch(/: # .{10,}/);
  });

  it('.env.example leaves secrets empty', () => {
    expect(values.JWT_SECRET).toBe('');
    for (const [name, value] of Object.entries(values)) {
      if (/SECRET|PASSWORD|TOKEN_|KEY$/.test(name)) expect(`${name}=${value}`).toBe(`${name}=`);
    }
  });

  it('the values in .env.example are the defaults: loading the file changes nothing', () => {
    expect(loadConfig(values)).toEqual(loadConfig({}));
    expect(loadConfig({ ...values, NODE_ENV: 'production' })).toEqual(loadConfig({ NODE_ENV: 'production' }));
  });

  it('refuses at start a value the server could not keep to, naming the setting', () => {
    for (const [name, value, message] of [
      // Longer than a Node timer takes: it would fire every millisecond.
      ['MAIL_POLL_INTERVAL_MS', '3000000000', /MAIL_POLL_INTERVAL_MS must be between 10 and 2147483647/],
      ['EVENT_POLL_INTERVAL_MS', '3000000000', /EVENT_POLL_INTERVAL_MS must be between/],
      ['SUBSCRIPTION_RECHECK_INTERVAL_MS', '3000000000', /SUBSCRIPTION_RECHECK_INTERVAL_MS must be between/],
      ['MAIL_RETRY_BASE_MS', '7200001', /MAIL_RETRY_BASE_MS must be between/],
      // Past any date a link's expiry can be written as.
      [
        'EMAIL_CHANGE_LINK_TTL_SECONDS',
        '9000000000000',
        /EMAIL_CHANGE_LINK_TTL_SECONDS must be between 60 and 2592000/,
      ],
      ['JWT_TTL_SECONDS', '9999999999999', /JWT_TTL_SECONDS must be between/],
      ['MAIL_FROM', 'bogus', /MAIL_FROM must be an address/],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(message);
    }
    expect(loadConfig({ MAIL_FROM: 'Acme Accounts <accounts@acme.test>' }).mail.from).toBe(
      'Acme Accounts <accounts@acme.test>',
    );
    expect(loadConfig({ MAIL_FROM: 'accounts@acme.test' }).mail.from).toBe('accounts@acme.test');
  });

  it('the README configuration table names every setting', () => {
    const readme = read('README.md');
    const start = readme.indexOf('## Configuration');
    expect(start).toBeGreaterThanOrEqual(0);
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    expect(names.filter((name) => !section.includes(`\`${name}\``))).toEqual([]);
  });
});

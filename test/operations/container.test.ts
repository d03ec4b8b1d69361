import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/**
 * The container files, read as Docker and Compose read them (no Docker engine runs here, so nothing is
 * built): the Dockerfile's instructions line by line, compose.yaml with a YAML parser.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions with their continuation lines joined; comments and blank lines dropped, as Docker does. */
function dockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const whole = (pending + line).trim();
    pending = '';
    if (!whole) continue;
    const keyword = whole.split(/\s+/)[0];
    instructions.push({ keyword: keyword.toUpperCase(), args: whole.slice(keyword.length).trim() });
  }
  return instructions;
}

/** The stages: each starts at a FROM. */
function stages(instructions: Instruction[]): Instruction[][] {
  const result: Instruction[][] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') result.push([]);
    result.at(-1)?.push(instruction);
  }
  return result;
}

/** `ENV A=1 B=2` (and the old `ENV A 1`) as pairs. */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.filter((i) => i.keyword === 'ENV')) {
    if (!args.includes('=')) {
      const [name, ...value] = args.split(/\s+/);
      env[name] = value.join(' ');
      continue;
    }
    for (const pair of args.match(/\S+=("[^"]*"|\S*)/g) ?? []) {
      const at = pair.indexOf('=');
      env[pair.slice(0, at)] = pair.slice(at + 1).replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** An exec-form argument list (`["node", "x"]`); a shell-form command is not one. */
function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  const value = JSON.parse(args);
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null;
}

/** npm start's command (package.json) without the `exec` that makes the shell hand its place to node. */
function startCommand(): string[] {
  const script: string = JSON.parse(read('package.json')).scripts.start;
  return script
    .replace(/^exec\s+/, '')
    .trim()
    .split(/\s+/);
}

describe('Dockerfile', () => {
  const all = dockerfile(read('Dockerfile'));
  const [build, ...later] = stages(all);
  const runtime = later.at(-1)!;
  const buildName = /\sAS\s+(\S+)/i.exec(build[0].args)?.[1];
  const runs = (stage: Instruction[]) => stage.filter((i) => i.keyword === 'RUN').map((i) => i.args);

  it('has a named build stage and a runtime stage that takes only the results from it', () => {
    expect(all.filter((i) => i.keyword === 'FROM').length).toBeGreaterThanOrEqual(2);
    expect(buildName).toBeTruthy();
    const copies = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) expect(copy).toMatch(new RegExp(`--from=${buildName}\\b`));
    expect(copies.join('\n')).toMatch(/node_modules/);
    expect(copies.join('\n')).toMatch(/dist/);
  });

  it('compiles sqlite3 from source in the build stage (python3, make, g++) and drops dev dependencies', () => {
    const commands = runs(build).join('\n');
    for (const tool of ['python3', 'make', 'g++'])
      expect(commands).toMatch(new RegExp(`install[^\\n]*\\s${tool.replace('+', '\\+')}(\\s|$)`));
    expect(commands).toMatch(/\bnpm ci\b/);
    expect(commands).toMatch(/\bnpm run build\b/);
    expect(commands).toMatch(/\bnpm prune --omit=dev\b/);
    // Node's headers from the image, not downloaded.
    expect(envOf(build).npm_config_nodedir).toBeTruthy();
    // The runtime stage installs nothing: no compilers in the image that runs.
    expect(runs(runtime).join('\n')).not.toMatch(/apt-get|npm (ci|install)/);
  });

  it('runs as a user that is not root, with NODE_ENV=production', () => {
    const users = runtime.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users.at(-1));
    expect(envOf(runtime).NODE_ENV).toBe('production');
    // Listening beyond the container's loopback, on the port it exposes.
    expect(envOf(runtime).HOST).toBe('0.0.0.0');
    const exposed = runtime.find((i) => i.keyword === 'EXPOSE')?.args;
    expect(exposed).toBe(envOf(runtime).PORT);
  });

  it("starts node itself (PID 1, so it gets SIGTERM) with npm start's command, in exec form", () => {
    // The base image's entry point is cleared (or is an init that forwards signals to node).
    const entrypoint = execForm(runtime.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args ?? '');
    expect(entrypoint).not.toBeNull();
    expect(entrypoint!.length === 0 || /(^|\/)(tini|dumb-init)$/.test(entrypoint![0])).toBe(true);
    const cmd = runtime.filter((i) => i.keyword === 'CMD').at(-1);
    expect(cmd).toBeDefined();
    expect(execForm(cmd!.args)).toEqual(startCommand());
    expect(startCommand()[0]).toBe('node');
  });

  it('checks readiness with /readyz, in exec form (the image has no shell tools for it)', () => {
    const check = runtime.find((i) => i.keyword === 'HEALTHCHECK');
    expect(check).toBeDefined();
    const command = execForm(check!.args.replace(/^(--\S+\s+)*CMD\s+/, ''));
    expect(command?.[0]).toBe('node');
    expect(command?.join(' ')).toMatch(/\/readyz/);
  });

  it('builds from a context that holds only what it copies (.dockerignore: nothing else, no .env)', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(patterns[0]).toBe('*');
    const included = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const sources = build
      .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect({ source, included: included.some((p) => source === p || source.startsWith(p)) }).toEqual({
        source,
        included: true,
      });
      expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
    }
    expect(included.some((p) => /^(\.env|node_modules|dist|data|\.git)\b/.test(p))).toBe(false);
  });
});

describe('sqlite3 is compiled from source without an npm setting npm does not know', () => {
  it('.npmrc has no build_from_source; .prebuild-installrc (read by sqlite3’s prebuild-install) says so', () => {
    expect(read('.npmrc')).not.toMatch(/build[-_]from[-_]source/);
    expect(read('.prebuild-installrc')).toMatch(/^buildFromSource=true$/m);
  });
});

/** Compose's `${NAME:-default}` and `${NAME:?message}` with the default, or `value` for a required one. */
function interpolate(text: string, value = 'x'.repeat(32)): string {
  return text.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_all, _name, kind, rest) =>
    kind === '-' ? rest : value,
  );
}

describe('compose.yaml', () => {
  const text = read('compose.yaml');
  const compose = parse(text);
  const services: Record<string, any> = compose.services;
  const image = (name: string) => services[name].build === '.' || services[name].build?.context === '.';
  // The services that run the server: this project's image with the image's own command.
  const servers = Object.keys(services).filter((name) => image(name) && !services[name].command);
  const replicas = servers.reduce((sum, name) => sum + (services[name].deploy?.replicas ?? 1), 0);
  const postgres = Object.keys(services).filter((name) => /^postgres:/.test(services[name].image ?? ''));

  it('runs PostgreSQL with a health check', () => {
    expect(postgres).toHaveLength(1);
    expect(services[postgres[0]].healthcheck.test.join(' ')).toMatch(/pg_isready/);
  });

  it('runs two replicas of the server on it, with one JWT_SECRET from the environment', () => {
    expect(replicas).toBe(2);
    const secrets = new Set<string>();
    for (const name of servers) {
      const env = services[name].environment;
      expect(new URL(interpolate(env.DATABASE_URL)).hostname).toBe(postgres[0]);
      expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET[:?}]/);
      expect(interpolate(env.JWT_SECRET).length).toBeGreaterThanOrEqual(32);
      secrets.add(env.JWT_SECRET);
    }
    expect(secrets.size).toBe(1);
  });

  it('takes SMTP_URL and PUBLIC_URL from the environment, so that email-change links reach people and work', () => {
    for (const name of servers) {
      const env = services[name].environment;
      expect(env.SMTP_URL).toMatch(/^\$\{SMTP_URL[:-}]/);
      expect(env.PUBLIC_URL).toMatch(/^\$\{PUBLIC_URL[:-}]/);
      // By default the links point at the first replica's published port.
      expect(new URL(interpolate(env.PUBLIC_URL)).port).toBe(
        String(services[name].ports[0]).split(':')[1].split('-')[0],
      );
    }
  });

  it('publishes one host port per replica, to the port the image listens on', () => {
    const containerPort = envOf(stages(dockerfile(read('Dockerfile'))).at(-1)!).PORT;
    let hostPorts = 0;
    for (const name of servers) {
      for (const port of services[name].ports) {
        const parts = String(port).split(':');
        expect(parts.at(-1)).toBe(containerPort);
        const [from, to = from] = parts.at(-2)!.split('-').map(Number);
        hostPorts += to - from + 1;
      }
    }
    expect(hostPorts).toBeGreaterThanOrEqual(replicas);
  });

  it('starts a server only once PostgreSQL is healthy and migrated, and checks it with /readyz', () => {
    for (const name of servers) {
      const service = services[name];
      expect(service.depends_on[postgres[0]].condition).toBe('service_healthy');
      expect(service.healthcheck.test.join(' ')).toMatch(/\/readyz/);
      const migrations = Object.entries(service.depends_on).filter(
        ([, v]: [string, any]) => v.condition === 'service_completed_successfully',
      );
      expect(migrations).toHaveLength(1);
      expect(services[migrations[0][0]].command.join(' ')).toMatch(/dist\/src\/cli\/main\.js migrate$/);
      // Time for the requests in flight (the server gives them 10 s) before Docker's SIGKILL.
      expect(parseInt(service.stop_grace_period, 10)).toBeGreaterThan(10);
    }
  });

  it('is what the README shows: its command, the two servers on 127.0.0.1:4001 and :4002, the service to exec into', () => {
    const readme = read('README.md');
    const up =
      /^docker compose up --build +# PostgreSQL and (\w+) servers: 127\.0\.0\.1:(\d+) and :(\d+)$/m.exec(
        readme,
      );
    expect(up).not.toBeNull();
    const [, count, first, second] = up!;
    expect({ servers: servers.length, replicas }).toEqual({
      servers: 1,
      replicas: count === 'two' ? 2 : NaN,
    });
    expect(services[servers[0]].ports).toEqual([`127.0.0.1:${first}-${second}:4000`]);
    expect(postgres).toHaveLength(1);
    const exec = /docker compose exec (\S+) node dist\/src\/cli\/main\.js /.exec(readme);
    expect(exec?.[1]).toBe(servers[0]);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CliResult, runCli, singleJsonObject, startProcess } from './support/processes';
import { GqlResponse, bearer, gql, useApp } from './support/harness';

/** The operator CLI's commands against the test server's database; the last tests start it as a process. */
describe('operator CLI', () => {
  const app = useApp();

  const cli = (...args: string[]): Promise<CliResult> => runCli(app.server.env, ...args);

  /** `--json` prints exactly one JSON object and nothing else. */
  const json = (result: CliResult) => {
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return singleJsonObject(result.stdout);
  };

  const me = (headers: Record<string, string>) =>
    gql(app.url, '{ me { id email role username } }', {}, headers);

  it('creates organizations, users and every kind of token, and the tokens work on the running server', async () => {
    const org = json(await cli('org', 'create', '--name', 'CLI Org', '--json'));
    expect(org).toMatchObject({ id: expect.stringMatching(/^org_/), name: 'CLI Org' });

    const [adminRun, memberRun, badEmail, unknownOrg] = await Promise.all([
      cli(
        'user',
        'create',
        '--org',
        org.id,
        '--email',
        'Cli.Admin@Example.com',
        '--name',
        'Cli Admin',
        '--role',
        'admin',
        '--username',
        'cli.admin',
        '--json',
      ),
      cli('user', 'create', '--org', org.id, '--email', 'cli.member@example.com', '--name', 'Cli Member'),
      cli('user', 'create', '--org', org.id, '--email', 'not-an-email', '--name', 'Bad'),
      cli('user', 'create', '--org', 'org_doesnotexist', '--email', 'x@example.com', '--name', 'X', '--json'),
    ]);
    const admin = json(adminRun);
    expect(admin).toMatchObject({
      id: expect.stringMatching(/^usr_[A-Za-z0-9_-]{16,}$/),
      numericId: expect.any(Number),
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      organizationId: org.id,
      email: 'Cli.Admin@Example.com',
      username: 'cli.admin',
      role: 'admin',
      status: 'active',
    });
    // Without --json the output is for people: "key: value" lines.
    expect(memberRun.code).toBe(0);
    const memberId = /^id: (usr_\S+)$/m.exec(memberRun.stdout)?.[1];
    expect(memberId).toBeDefined();
    expect(memberRun.stdout).toMatch(/^role: member$/m);

    expect(badEmail.code).not.toBe(0);
    expect(badEmail.stderr).toMatch(/email/);
    expect(badEmail.stdout).toBe('');
    expect(unknownOrg.code).not.toBe(0);
    expect(unknownOrg.stdout).toBe('');
    expect(JSON.parse(unknownOrg.stderr).error).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/org_doesnotexist/),
    });

    // Meanwhile the server keeps writing to the same database: neither side may see "database is locked".
    const busyUser = await app.fixtures.user(await app.fixtures.org('Busy'));
    const busyToken = (await app.fixtures.token(busyUser.id)).token;
    let cliRunning = true;
    const serverWrites = (async () => {
      const results: GqlResponse[] = [];
      for (let i = 0; cliRunning; i++) {
        results.push(
          await gql(
            app.url,
            'mutation ($t: String) { updateMe(input: { jobTitle: $t }) { version } }',
            { t: `n${i}` },
            bearer(busyToken),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return results;
    })();
    const [patRun, keyRun, oauthRun, jwtRun, unknownKind, unknownScope] = await Promise.all([
      cli('token', 'create', '--user', admin.id, '--kind', 'pat', '--name', 'ci token', '--json'),
      cli('token', 'create', '--user', admin.id, '--kind', 'api-key', '--scopes', 'users:read', '--json'),
      cli(
        'token',
        'create',
        '--user',
        admin.id,
        '--kind',
        'oauth',
        '--scopes',
        'users:read,users:write',
        '--expires-in',
        '3600',
        '--json',
      ),
      cli(
        'token',
        'create',
        '--user',
        memberId!,
        '--kind',
        'jwt',
        '--expires-in',
        '600',
        '--name',
        'member jwt',
        '--json',
      ),
      cli('token', 'create', '--user', admin.id, '--kind', 'password'),
      cli('token', 'create', '--user', admin.id, '--kind', 'api-key', '--scopes', 'users:read,root'),
    ]);

    cliRunning = false;
    const writes = await serverWrites;
    expect(writes.flatMap((res) => res.body.errors ?? [])).toEqual([]);
    expect((await app.stored(busyUser.id)).version).toBe(1 + writes.length);

    const pat = json(patRun);
    expect(pat).toMatchObject({
      id: expect.stringMatching(/^cred_/),
      token: expect.stringMatching(/^pat_/),
      kind: 'pat',
      userId: admin.id,
      scopes: ['users:read', 'users:write'],
      name: 'ci token',
      expiresAt: null,
    });
    expect((await me(bearer(pat.token))).body.data.me).toMatchObject({
      id: admin.id,
      role: 'ADMIN',
      username: 'cli.admin',
    });
    const renamed = await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "Operator" }) { jobTitle } }',
      {},
      bearer(pat.token),
    );
    expect(renamed.body.data.updateMe.jobTitle).toBe('Operator');

    const key = json(keyRun);
    expect(key).toMatchObject({
      token: expect.stringMatching(/^key_/),
      kind: 'api-key',
      scopes: ['users:read'],
    });
    expect((await me({ 'x-api-key': key.token })).body.data.me.id).toBe(admin.id);
    const readOnly = await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "x" }) { id } }',
      {},
      { 'x-api-key': key.token },
    );
    expect(readOnly.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');

    const oauth = json(oauthRun);
    expect(oauth).toMatchObject({
      token: expect.stringMatching(/^oat_/),
      scopes: ['users:read', 'users:write'],
    });
    const lifetime = Date.parse(oauth.expiresAt) - Date.parse(oauth.createdAt);
    expect(lifetime).toBe(3600 * 1000);
    expect((await me(bearer(oauth.token))).body.data.me.id).toBe(admin.id);

    const memberJwt = json(jwtRun);
    expect(memberJwt).toMatchObject({ kind: 'jwt', userId: memberId, name: 'member jwt' });
    expect(Date.parse(memberJwt.expiresAt) - Date.parse(memberJwt.createdAt)).toBe(600 * 1000);
    const viaJwt = await gql(
      app.url,
      'mutation { updateMe(input: { jobTitle: "From JWT" }) { id jobTitle } }',
      {},
      { 'x-jwt-token': memberJwt.token },
    );
    expect(viaJwt.body.data.updateMe).toEqual({ id: memberId, jobTitle: 'From JWT' });

    expect(unknownKind.code).not.toBe(0);
    expect(unknownKind.stderr).toMatch(/password/);
    expect(unknownKind.stderr).toMatch(/pat, api-key, oauth, jwt/);
    expect(unknownScope.code).not.toBe(0);
    expect(unknownScope.stderr).toMatch(/unknown scope.*root/);

    // Revoking works while the server runs: the very next request with the token is refused.
    const [revokeRun, listRun, noUsers, noEndpoints, unreachable, usage, noCommand] = await Promise.all([
      cli('token', 'revoke', pat.id, '--json'),
      cli('user', 'list', '--org', org.id, '--json'),
      // An organization that does not exist is an error, not an empty list.
      cli('user', 'list', '--org', 'org_doesnotexist', '--json'),
      cli('webhook', 'list', '--org', 'org_doesnotexist'),
      // With --json every failure is one JSON object, an unexpected one too.
      runCli({ ...app.server.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }, 'migrate', '--json'),
      // A usage error too (exit 2), without commander's text and help.
      cli('user', 'list', '--json'),
      cli('webhook', '--json'),
    ]);
    expect([usage.code, usage.stdout, JSON.parse(usage.stderr)]).toEqual([
      2,
      '',
      { error: { code: 'BAD_USER_INPUT', message: "required option '--org <orgId>' not specified" } },
    ]);
    expect([noCommand.code, noCommand.stdout, JSON.parse(noCommand.stderr)]).toEqual([
      2,
      '',
      { error: { code: 'BAD_USER_INPUT', message: 'a command is required (see --help)' } },
    ]);
    expect([noUsers.code, noUsers.stdout, JSON.parse(noUsers.stderr).error.code]).toEqual([
      1,
      '',
      'NOT_FOUND',
    ]);
    expect([noEndpoints.code, noEndpoints.stdout]).toEqual([1, '']);
    expect(noEndpoints.stderr).toMatch(/org_doesnotexist not found/);
    expect([unreachable.code, unreachable.stdout]).toEqual([1, '']);
    expect(JSON.parse(unreachable.stderr).error).toMatchObject({
      code: 'INTERNAL_SERVER_ERROR',
      message: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(json(revokeRun)).toMatchObject({ id: pat.id, revokedAt: expect.any(String) });
    const refused = await me(bearer(pat.token));
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect((await me(bearer(oauth.token))).body.data.me.id).toBe(admin.id);

    const list = json(listRun);
    // Oldest first; the two users were created concurrently, so either may be older.
    const numericIds = list.users.map((u: any) => u.numericId);
    expect(numericIds).toEqual([...numericIds].sort((a, b) => a - b));
    expect(list.users.map((u: any) => u.id).sort()).toEqual([admin.id, memberId].sort());
    expect(list.users.find((u: any) => u.id === admin.id)).toMatchObject({
      numericId: admin.numericId,
      uuid: admin.uuid,
      email: 'Cli.Admin@Example.com',
    });
  }, 180_000);

  it('as a process: the exit code and stderr reach the shell; what it creates under DATA_DIR is its user’s only', async () => {
    const run = async (args: string[], env: Record<string, string>) => {
      const started = startProcess('src/cli/main.ts', args, env);
      return { ...(await started.exit), output: started.output() };
    };
    expect(await run(['user', 'list', '--json'], app.server.env)).toEqual({
      code: 2,
      signal: null,
      output: `${JSON.stringify({
        error: { code: 'BAD_USER_INPUT', message: "required option '--org <orgId>' not specified" },
      })}\n`,
    });
    const refused = await run(['user', 'list', '--org', 'org_doesnotexist'], app.server.env);
    expect(refused).toEqual({
      code: 1,
      signal: null,
      output: 'error: Organization org_doesnotexist not found\n',
    });
    // A first command on an empty DATA_DIR creates the SQLite database and the JWT secret: 0600, in 0700.
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'users-api-cli-')), 'data');
    try {
      const created = await run(['org', 'create', '--name', 'First', '--json'], {
        ...app.server.env,
        DATABASE_URL: '',
        JWT_SECRET: '',
        DATA_DIR: dataDir,
      });
      expect(created).toMatchObject({ code: 0, signal: null });
      const modes = Object.fromEntries(
        fs.readdirSync(dataDir).map((file) => [file, fs.statSync(path.join(dataDir, file)).mode & 0o777]),
      );
      expect(modes).toMatchObject({ 'users.sqlite': 0o600, 'jwt-secret': 0o600 });
      for (const mode of Object.values(modes)) expect(mode & 0o077).toBe(0);
      expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    } finally {
      fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });

  it('a reader that stops early (| head) ends the output quietly: exit 0, no error', async () => {
    const orgId = await app.fixtures.org('Early reader');
    await Promise.all(Array.from({ length: 3 }, () => app.fixtures.user(orgId)));
    const started = startProcess('src/cli/main.ts', ['user', 'list', '--org', orgId], app.server.env);
    started.child.stdout!.destroy();
    expect(await started.exit).toEqual({ code: 0, signal: null });
    expect(started.output()).toBe('');
  });
});

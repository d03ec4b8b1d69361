import 'reflect-metadata';
import fs from 'node:fs';
import { Presets, SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { createServices, type Services } from '../services';
import { operatorContext } from '../auth/principal';
import { parseScopes } from '../auth/scopes';
import { type Env, loadConfig } from '../config';
import { createDataSource } from '../db/data-source';
import { CredentialKind, Role } from '../entities/enums';
import type { User } from '../entities/user.entity';
import { AppError, BadUserInputError, NotFoundError } from '../errors/app-error';
import { ErrorCode } from '../errors/error-code';
import { countRows, formatOf, importUsers } from './import-users';
import { addWebhookCommands } from './webhook-commands';

/** The operator's command line: same configuration and database as the server, safe while it runs. */

const KINDS: Record<string, CredentialKind> = {
  pat: CredentialKind.PERSONAL_ACCESS_TOKEN,
  'api-key': CredentialKind.API_KEY,
  oauth: CredentialKind.OAUTH,
  jwt: CredentialKind.JWT,
};

function publicUser(user: User) {
  return {
    id: user.id,
    numericId: user.numericId,
    uuid: user.uuid,
    organizationId: user.organizationId,
    email: user.email,
    name: user.name,
    username: user.username,
    role: user.role,
    status: user.status,
    createdAt: user.createdAt,
  };
}

type Printable = Record<string, unknown>;

/** Where a run of the CLI reads its configuration and writes: the process's own, or a caller's (the tests). */
export interface CliIo {
  /** What the configuration is read from (loadConfig); the process's environment when left out. */
  env?: Env;
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (the import's progress bar). */
  stderrIsTTY: boolean;
}

function table(value: Printable): string {
  return Object.entries(value)
    .map(([key, item]) => `${key}: ${Array.isArray(item) ? item.join(' ') : (item ?? '')}`)
    .join('\n');
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('must be a positive whole number of seconds');
  return Number(value);
}

async function withServicesIn<T>(env: Env | undefined, work: (services: Services) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  let services: Services | undefined;
  try {
    await dataSource.runMigrations({ transaction: 'each' });
    services = createServices(config, dataSource);
    return await work(services);
  } finally {
    await services?.db.close();
    await dataSource.destroy();
  }
}

/** Applies the pending migrations (every command, and the server, do so first too); returns their names. */
async function applyMigrations(env: Env | undefined): Promise<string[]> {
  const dataSource = createDataSource(loadConfig(env));
  await dataSource.initialize();
  try {
    return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The commands, writing to `io`; `jsonErrors`: a usage error is printed by runCli as one JSON object, not
 * by commander as text and help. `exitCode` is set by a command that ends other than with 0 or an error.
 */
function buildProgram(io: CliIo, jsonErrors: boolean, result: { exitCode: number }): Command {
  const program = new Command('users-api')
    .description('Operate the users API: organizations, users, credentials and webhook endpoints')
    .option('--json', 'print one JSON object')
    .showHelpAfterError()
    .exitOverride();
  // Before the commands are added: they copy it.
  program.configureOutput(
    jsonErrors
      ? { writeOut: io.stdout, outputError: () => undefined, writeErr: () => undefined }
      : { writeOut: io.stdout, writeErr: io.stderr },
  );
  const json = (command: Command) => Boolean(command.optsWithGlobals().json);
  const ctx = operatorContext();
  const print = (asJson: boolean, value: Printable, human: string) =>
    io.stdout(asJson ? `${JSON.stringify(value)}\n` : `${human}\n`);
  const withServices = <T>(work: (services: Services) => Promise<T>) => withServicesIn(io.env, work);
  /** withServices for a command about one organization, which must exist. */
  const withOrganization = <T>(organizationId: string, work: (services: Services) => Promise<T>) =>
    withServices(async (services) => {
      if (!(await services.organizations.exists(organizationId)))
        throw new NotFoundError(`Organization ${organizationId} not found`);
      return work(services);
    });

  program
    .command('migrate')
    .description('apply pending database migrations, e.g. once before several servers start on one database')
    .option('--json', 'print one JSON object')
    .action(async (_options, command) => {
      const applied = await applyMigrations(io.env);
      print(
        json(command),
        { applied },
        applied.length > 0 ? `applied: ${applied.join(', ')}` : 'the database is up to date',
      );
    });

  const org = program.command('org').description('organizations');
  org
    .command('create')
    .requiredOption('--name <name>', 'organization name')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const organization = await withServices((s) => s.organizations.create(ctx, options.name));
      print(json(command), { ...organization }, table({ ...organization }));
    });

  const user = program.command('user').description('users');
  user
    .command('create')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption('--email <email>', 'email address')
    .requiredOption('--name <name>', 'full name')
    .addOption(new Option('--role <role>', 'role').choices(Object.values(Role)).default(Role.MEMBER))
    .option('--username <username>', 'username (unique in the organization)')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const created = await withServices((s) =>
        s.provisioning.create(ctx, {
          organizationId: options.org,
          email: options.email,
          name: options.name,
          role: options.role,
          username: options.username,
        }),
      );
      print(json(command), publicUser(created), table(publicUser(created)));
    });
  user
    .command('list')
    .requiredOption('--org <orgId>', 'organization id')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const users = (
        await withOrganization(options.org, (s) => s.users.listOrganization(ctx, options.org))
      ).map(publicUser);
      const human = users
        .map((u) => `${u.id}\t${u.numericId}\t${u.role}\t${u.status}\t${u.email}\t${u.name}`)
        .join('\n');
      print(json(command), { users }, human || '(no users)');
    });

  user
    .command('history')
    .argument('<userId>', 'user id (usr_…)')
    .option('--first <n>', 'how many changes, newest first (1-100)', (v) => Number(v), 20)
    .option('--json', 'print one JSON object')
    .action(async (userId, options, command) => {
      const page = await withServices((s) => s.history.list(ctx, userId, options.first));
      const changes = page.changes.map((c) => ({
        id: c.id,
        at: c.createdAt,
        actorUserId: c.actorUserId,
        credentialId: c.credentialId,
        requestId: c.requestId,
        changes: c.changes,
      }));
      const human = changes
        .map(
          (c) =>
            `${c.at} by ${c.actorUserId} (${c.credentialId}, request ${c.requestId})\n` +
            Object.entries(c.changes)
              .map(([field, v]) => `  ${field}: ${JSON.stringify(v.before)} -> ${JSON.stringify(v.after)}`)
              .join('\n'),
        )
        .join('\n');
      print(json(command), { userId, changes, hasMore: page.hasNextPage }, human || '(no changes)');
    });

  user
    .command('import')
    .description('create users from a CSV (header row) or JSON-lines file; refused rows never stop the rest')
    .requiredOption('--org <orgId>', 'organization id')
    .requiredOption(
      '--file <path>',
      `file with columns ${'email,name[,role,username,firstName,lastName,jobTitle,companyName,timezone]'}`,
    )
    .addOption(
      new Option('--format <format>', 'file format (default: from the file name)').choices(['csv', 'jsonl']),
    )
    .option(
      '--update',
      "update users whose email exists with the row's other fields, instead of skipping them",
    )
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const format = formatOf(options.file, options.format);
      const file = fs.statSync(options.file, { throwIfNoEntry: false });
      if (!file) throw new BadUserInputError([{ field: 'file', message: `${options.file} does not exist` }]);
      if (file.isDirectory())
        throw new BadUserInputError([{ field: 'file', message: `${options.file} is a directory` }]);
      const summary = await withOrganization(options.org, async (s) => {
        // A pipe or /dev/stdin can be read once only: no count first, and no bar without an end.
        const total = file.isFile() ? await countRows(options.file, format) : undefined;
        const bar = new SingleBar(
          {
            format: 'importing [{bar}] {percentage}% | {value}/{total} rows | {eta_formatted} left',
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        const showBar = io.stderrIsTTY && !json(command) && total !== undefined;
        if (showBar) bar.start(total, 0);
        let done = 0;
        // Ctrl-C: the bar gives the terminal its cursor back, and the operator learns where it stopped.
        const interrupted = () => {
          if (showBar) bar.stop();
          io.stderr(
            `interrupted after ${done} rows: the batches of 1,000 rows before it are committed; rerunning the file skips them\n`,
          );
          process.exit(130);
        };
        process.once('SIGINT', interrupted);
        process.once('SIGTERM', interrupted);
        try {
          const onRow = (rows: number) => {
            done = rows;
            if (showBar) bar.update(rows);
            else if (!json(command) && rows % 1000 === 0)
              io.stderr(`imported ${rows}/${total ?? '?'} rows\n`);
          };
          return await importUsers(s, ctx, options.org, options.file, format, onRow, {
            update: options.update === true,
          });
        } finally {
          process.off('SIGINT', interrupted);
          process.off('SIGTERM', interrupted);
          if (showBar) bar.stop();
        }
      });
      const lines = [
        `rows: ${summary.total}, imported: ${summary.imported}, ${options.update ? `updated: ${summary.updated}, ` : ''}skipped: ${summary.skipped.length}, refused: ${summary.refused.length}`,
        ...summary.skipped.map((r) => `skipped line ${r.line} (${r.email ?? '?'}): ${r.reason}`),
        ...summary.refused.map((r) => `refused line ${r.line} (${r.email ?? '?'}): ${r.reason}`),
      ];
      print(json(command), { ...summary }, lines.join('\n'));
      if (summary.refused.length > 0) result.exitCode = 3;
    });

  const token = program.command('token').description('credentials');
  token
    .command('create')
    .requiredOption('--user <userId>', 'owner (usr_…)')
    .addOption(
      new Option('--kind <kind>', 'credential kind').choices(Object.keys(KINDS)).makeOptionMandatory(),
    )
    .option('--scopes <scopes>', 'comma-separated scopes (default: users:read,users:write)')
    .option('--expires-in <seconds>', 'lifetime in seconds (JWT default: JWT_TTL_SECONDS)', positiveInteger)
    .option('--name <name>', 'a label for the credential')
    .option('--json', 'print one JSON object')
    .action(async (options, command) => {
      const issued = await withServices((s) =>
        s.credentials.issue(ctx, {
          userId: options.user,
          kind: KINDS[options.kind],
          scopes: options.scopes === undefined ? undefined : parseScopes(options.scopes),
          expiresInSeconds: options.expiresIn,
          name: options.name,
        }),
      );
      const c = issued.credential;
      const out = {
        id: c.id,
        token: issued.token,
        kind: options.kind,
        userId: c.userId,
        scopes: c.scopes.split(' '),
        name: c.name,
        createdAt: c.createdAt,
        expiresAt: c.expiresAt,
      };
      print(json(command), out, `${table(out)}\n(the token is shown only now)`);
    });
  token
    .command('revoke')
    .argument('<id>', 'credential id (cred_…)')
    .option('--json', 'print one JSON object')
    .action(async (id, _options, command) => {
      const revoked = await withServices((s) => s.credentials.revoke(ctx, id));
      const out = { id: revoked.id, revokedAt: revoked.revokedAt };
      print(json(command), out, table(out));
    });

  addWebhookCommands(program, { ctx, withServices, withOrganization, print, table, json });
  return program;
}

/** Runs the command `argv` names (the arguments after the program's name); resolves with its exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const wantsJson = argv.includes('--json');
  const result = { exitCode: 0 };
  const program = buildProgram(io, wantsJson, result);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      if (wantsJson) {
        // Without a command commander would print the help (to stderr) and say no more than "(outputHelp)".
        const message =
          error.code === 'commander.help'
            ? 'a command is required (see --help)'
            : error.message.replace(/^error: /, '');
        io.stderr(`${JSON.stringify({ error: { code: ErrorCode.BAD_USER_INPUT, message } })}\n`);
      }
      return 2;
    }
    if (error instanceof AppError) {
      const fields = error instanceof BadUserInputError ? error.fields : undefined;
      if (wantsJson) {
        io.stderr(`${JSON.stringify({ error: { code: error.code, message: error.message, fields } })}\n`);
      } else {
        io.stderr(`error: ${error.message}\n`);
      }
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(
      wantsJson
        ? `${JSON.stringify({ error: { code: ErrorCode.INTERNAL_SERVER_ERROR, message } })}\n`
        : `error: ${message}\n`,
    );
    return 1;
  }
}

if (require.main === module) {
  // As the server: what it creates under DATA_DIR (a new database, the JWT secret) is this user's alone.
  process.umask(0o077);
  // A reader that stops early (`| head`) closes the pipe: what is left to print goes nowhere, quietly.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
  runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  }).then((code) => {
    if (code !== 0) process.exitCode = code;
  });
}

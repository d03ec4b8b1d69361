import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import ts from 'typescript';
import { documentPath } from '../../src/rest/openapi';
import { ENDPOINTS } from '../../src/rest/routes';
import { credentialsFor } from '../support/endpoints';
import { useApp } from '../support/harness';
import { type ContractId, expectContractResponse, send } from './rest-support';

const ROOT = path.resolve(__dirname, '../..');

/**
 * A client program as a user of the API would write it: openapi-fetch's `createClient<paths>()` over the
 * types openapi-typescript generates from the served document, calling every documented operation
 * (aliases included) in turn and printing what each answered. Writes use typed header parameters
 * (If-Match from the ETag the read gave, Idempotency-Key) and read typed fields of the answers.
 */
const CLIENT = `import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

interface Input {
  baseUrl: string;
  id: string;
  numericId: number;
  pat: string;
  apiKey: string;
  jwt: string;
}

const input = JSON.parse(process.argv[2]) as Input;
const client = createClient<paths>({ baseUrl: input.baseUrl });
const pat = { Authorization: \`Bearer \${input.pat}\` };
const bearerKey = { Authorization: \`Bearer \${input.apiKey}\` };
const apiKey = { 'x-api-key': input.apiKey };
const jwtHeader = { 'x-jwt-token': input.jwt };
const jwtCookie = { Cookie: \`jwt=\${input.jwt}\` };

interface Outcome {
  status: number;
  body: unknown;
  etag: string | null;
  /** A field read through the generated types. */
  typed: unknown;
}

function outcome(
  answer: { response: Response; data?: unknown; error?: unknown },
  typed: unknown,
): Outcome {
  const { response, data, error } = answer;
  return { status: response.status, body: data ?? error, etag: response.headers.get('etag'), typed };
}

const results: Record<string, Outcome> = {};
const key = (name: string) => \`typed-client-\${name}-\${Date.now()}\`;

// 000
for (const p of ['/v2/user', '/user'] as const) {
  const read = await client.GET(p, { headers: pat });
  results[\`GET \${p}\`] = outcome(read, read.data?.role.name);
  const write = await client.PUT(p, {
    headers: pat,
    params: { header: { 'Idempotency-Key': key(p) } },
    body: { name: 'Typed Client' },
  });
  results[\`PUT \${p}\`] = outcome(write, write.data?.role.id);
}

// 001
{
  const read = await client.GET('/v1/users/me', { headers: apiKey });
  results['GET /v1/users/me'] = outcome(read, read.data?.credits_balance);
  const write = await client.PATCH('/v1/users/me', {
    headers: apiKey,
    params: { header: { 'If-Match': read.response.headers.get('etag') ?? '*' } },
    body: { name: 'Typed Client' },
  });
  results['PATCH /v1/users/me'] = outcome(write, write.data?.status);
}

// 002
{
  const path = { user_id: input.id };
  const read = await client.GET('/v1/users/{user_id}', { headers: bearerKey, params: { path } });
  results['GET /v1/users/{user_id}'] = outcome(read, read.data?.first_name);
  const write = await client.PATCH('/v1/users/{user_id}', {
    headers: bearerKey,
    params: { path, header: { 'If-Match': read.response.headers.get('etag') ?? '*' } },
    body: { first_name: 'Typed', last_name: null },
  });
  results['PATCH /v1/users/{user_id}'] = outcome(write, write.data?.role);
}

// 003, in both places a JWT goes
for (const p of ['/v1/api/users/{userId}', '/api/users/{userId}'] as const) {
  const path = { userId: input.numericId };
  const read = await client.GET(p, { headers: jwtCookie, params: { path } });
  results[\`GET \${p}\`] = outcome(read, read.data?.user.projectsSortOrder);
  const write = await client.POST(p, {
    headers: jwtHeader,
    params: { path, header: { 'Idempotency-Key': key(p) } },
    body: { jobTitle: 'Typed Client', projectsSortOrder: 'name-asc', experiments: [] },
  });
  results[\`POST \${p}\`] = outcome(write, write.data?.success);
}

// 004
{
  const path = { id: input.id };
  const read = await client.GET('/api/v1/users/{id}', { headers: pat, params: { path } });
  results['GET /api/v1/users/{id}'] = outcome(read, read.data?.metadata);
  const write = await client.PATCH('/api/v1/users/{id}', {
    headers: pat,
    params: { path, header: { 'If-Match': read.response.headers.get('etag') ?? '*', 'Idempotency-Key': key('004') } },
    body: { metadata: { client: 'typed' }, createdAt: read.data?.createdAt },
  });
  results['PATCH /api/v1/users/{id}'] = outcome(write, write.data?.updatedAt);
}

console.log(JSON.stringify(results));
`;

// An ES module: Node (22.12 and later, as package.json's engines ask) loads it with require() in this process.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openapiTypescript = require('openapi-typescript') as {
  default(document: unknown): Promise<unknown>;
  astToString(ast: unknown): string;
};

/** openapi-typescript's `paths` (and the rest) for a document, through its API (given a copy to work on). */
async function generateTypes(document: unknown): Promise<string> {
  return openapiTypescript.astToString(await openapiTypescript.default(structuredClone(document)));
}

/**
 * The compiler options the client is checked under: strict, ES modules as Node runs them, and Node's
 * globals (fetch, Request, Response come from @types/node; the DOM's declarations, a program of a browser,
 * would double what the checker reads).
 */
const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  skipLibCheck: true,
};

function typeCheck(files: string[]): string[] {
  const program = ts.createProgram(files, COMPILER_OPTIONS);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (!diagnostic.file || diagnostic.start === undefined) return text;
    const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
    return `${path.basename(diagnostic.file.fileName)}:${line + 1}:${character + 1} ${text}`;
  });
}

describe('a client generated from /openapi.json with openapi-typescript and openapi-fetch', () => {
  const app = useApp();
  let dir: string;
  let document: any;
  let diagnostics: string[];

  beforeAll(async () => {
    document = (await send(app.url, 'GET', '/openapi.json')).body;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-client-'));
    // The program imports openapi-fetch (and its types, and Node's) as it would in a project of its own.
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    fs.writeFileSync(path.join(dir, 'schema.ts'), await generateTypes(document));
    fs.writeFileSync(path.join(dir, 'client.ts'), CLIENT);
    diagnostics = typeCheck([path.join(dir, 'client.ts'), path.join(dir, 'schema.ts')]);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('generates one type per operation, and the program type-checks under strict with no diagnostics', () => {
    const schema = fs.readFileSync(path.join(dir, 'schema.ts'), 'utf8');
    for (const { operationId } of Object.values<any>(document.paths).flatMap((item) =>
      ['get', 'put', 'post', 'patch'].filter((m) => item[m]).map((m) => item[m]),
    )) {
      expect(schema.match(new RegExp(`^ {4}${operationId}: \\{$`, 'gm'))).toHaveLength(1);
    }
    expect(diagnostics).toEqual([]);
  });

  it('a type error in a call is a diagnostic (the check is real)', () => {
    const broken = path.join(dir, 'broken.ts');
    fs.writeFileSync(
      broken,
      CLIENT.replace("body: { name: 'Typed Client' },", 'body: { name: 42 },').replace(
        'read.data?.credits_balance',
        'read.data?.creditsBalance',
      ),
    );
    const found = typeCheck([broken, path.join(dir, 'schema.ts')]);
    expect(
      found.some((d) => /broken\.ts:\d+:\d+ Type 'number' is not assignable to type 'string'/.test(d)),
    ).toBe(true);
    expect(found.some((d) => /creditsBalance/.test(d))).toBe(true);
  });

  it('calls every documented operation, aliases included: each answers 200 with its contract’s body', async () => {
    const { admin, adminToken } = await app.fixtures.orgAdmin('Typed client');
    const { apiKey, jwt } = await credentialsFor(app.fixtures, admin);
    for (const file of ['client.ts', 'schema.ts']) {
      const { outputText } = ts.transpileModule(fs.readFileSync(path.join(dir, file), 'utf8'), {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 },
      });
      fs.writeFileSync(path.join(dir, file.replace(/\.ts$/, '.js')), outputText);
    }
    const input = {
      baseUrl: app.url,
      id: admin.id,
      numericId: admin.numericId,
      pat: adminToken,
      apiKey,
      jwt,
    };
    // Asynchronously: the app answering the program runs in this process.
    const run = await promisify(execFile)(process.execPath, ['client.js', JSON.stringify(input)], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    const results: Record<string, { status: number; body: unknown; etag: string | null; typed: unknown }> =
      JSON.parse(run.stdout);

    // The email change links need a token from a message: test/email/email-change.test.ts calls them.
    const documented = Object.entries<any>(document.paths)
      .filter(([p]) => !p.startsWith('/v1/email-change/'))
      .flatMap(([p, item]) =>
        ['get', 'put', 'post', 'patch'].filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${p}`),
      );
    expect(Object.keys(results).sort()).toEqual(documented.sort());

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'served', components: document.components });
    for (const endpoint of ENDPOINTS) {
      for (const template of endpoint.paths) {
        const p = documentPath(template);
        for (const method of ['get', endpoint.write.method]) {
          const name = `${method.toUpperCase()} ${p}`;
          const result = results[name];
          expect({ name, status: result.status }).toEqual({ name, status: 200 });
          expect({ name, etag: result.etag }).toEqual({ name, etag: expect.stringMatching(/^"\d+"$/) });
          expect({ name, typed: result.typed !== undefined }).toEqual({ name, typed: true });
          // The contract's body for 200 (GET answers in the same shape; 003's GET adds `user`).
          expectContractResponse(endpoint.id as ContractId, result);
          // And the body the served document gives this operation.
          const schema = document.paths[p][method].responses['200'].content['application/json'].schema;
          const validate = ajv.compile({ $ref: `served${schema.$ref}` });
          expect({ name, valid: validate(result.body), errors: validate.errors ?? null }).toEqual({
            name,
            valid: true,
            errors: null,
          });
        }
      }
    }
    const stored = await app.stored(admin.id);
    expect(stored).toMatchObject({
      name: 'Typed Client',
      firstName: 'Typed',
      lastName: null,
      jobTitle: 'Typed Client',
      projectsSortOrder: 'name-asc',
      metadata: { client: 'typed' },
    });
  });
});

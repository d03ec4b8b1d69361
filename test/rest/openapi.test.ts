import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { CredentialKind } from '../../src/entities/enums';
import { useApp } from '../support/harness';
import { bearer, contract, send } from './rest-support';

/** Runs @seriousme/openapi-schema-validator (an ES module) in a child Node process. */
function validateOpenApi(document: unknown): { valid: boolean; errors?: unknown; version?: string } {
  const script = `import { Validator } from '@seriousme/openapi-schema-validator';
let text = ''; for await (const chunk of process.stdin) text += chunk;
const validator = new Validator();
const result = await validator.validate(JSON.parse(text));
console.log(JSON.stringify({ ...result, version: validator.version }));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    input: JSON.stringify(document),
    cwd: path.resolve(__dirname, '../..'),
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(run.stderr);
  return JSON.parse(run.stdout);
}

describe('GET /openapi.json', () => {
  let document: any;

  const app = useApp({ world: true });

  beforeAll(async () => {
    document = (await send(app.url, 'GET', '/openapi.json')).body;
  });

  it('is a valid OpenAPI 3.1 document', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(validateOpenApi(document)).toEqual({ valid: true, version: '3.1' });
  });

  it('describes exactly the shim routes and methods', () => {
    const routes = Object.entries(document.paths).flatMap(([p, item]: [string, any]) =>
      Object.keys(item)
        .filter((key) => key !== 'parameters')
        .map((method) => `${method.toUpperCase()} ${p}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /v2/user',
        'PUT /v2/user',
        'GET /user',
        'PUT /user',
        'GET /v1/users/me',
        'PATCH /v1/users/me',
        'GET /v1/users/{user_id}',
        'PATCH /v1/users/{user_id}',
        'GET /v1/api/users/{userId}',
        'POST /v1/api/users/{userId}',
        'GET /api/users/{userId}',
        'POST /api/users/{userId}',
        'GET /api/v1/users/{id}',
        'PATCH /api/v1/users/{id}',
      ].sort(),
    );
  });

  it.each([
    ['000', ['UpdateCurrentUserRequest', 'User', 'UserDetailsRole']],
    ['001', ['UserUpdate', 'UserResponse', 'ErrorResponse']],
    ['003', ['UpdateUserRequest', 'GenericApiResponse', 'UserProjectsSortOrder']],
  ] as const)(
    'keeps the names, required fields, types, formats and enums of seed %s schemas',
    (seed, names) => {
      const seedSchemas = contract(seed).components!.schemas;
      for (const name of names) {
        const ours = document.components.schemas[name];
        const theirs = seedSchemas[name];
        expect(ours).toBeDefined();
        for (const field of theirs.required ?? []) expect(ours.required).toContain(field);
        if (theirs.enum) expect(ours.enum).toEqual(theirs.enum);
        for (const [property, schema] of Object.entries<any>(theirs.properties ?? {})) {
          const mine = ours.properties[property];
          expect([name, property, mine !== undefined]).toEqual([name, property, true]);
          if (schema.$ref) expect(JSON.stringify(mine)).toContain(schema.$ref);
          if (schema.type)
            expect([schema.type].flat().every((t: string) => [mine.type].flat().includes(t))).toBe(true);
          if (schema.format) expect(mine.format).toBe(schema.format);
          if (schema.enum) expect(mine.enum).toEqual(schema.enum);
        }
      }
    },
  );

  it('describes the live 002 and 004 responses, success and error', async () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'ours', components: document.components });
    const check = (name: string, value: unknown) => {
      const validate = ajv.getSchema(`ours#/components/schemas/${name}`)!;
      expect({ valid: validate(value), errors: validate.errors ?? null }).toEqual({
        valid: true,
        errors: null,
      });
    };
    const key = (await app.fixtures.token(app.world.admin.id, CredentialKind.API_KEY)).token;
    const ok002 = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      headers: bearer(key),
      json: { last_name: 'Smith' },
    });
    check('User002', ok002.body);
    const bad002 = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      headers: bearer(key),
      json: { email: 'bad' },
    });
    check('Error002', bad002.body);
    const ok004 = await send(app.url, 'PATCH', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
      json: { metadata: { team: 'core' } },
    });
    check('User004', ok004.body);
    const bad004 = await send(app.url, 'PATCH', `/api/v1/users/${app.world.member.id}`, {
      headers: bearer(app.world.adminToken),
      json: { id: 'usr_other' },
    });
    check('Error004', bad004.body);
    const get000 = await send(app.url, 'GET', '/v2/user', { headers: bearer(app.world.adminToken) });
    check('User', get000.body);
  });
});

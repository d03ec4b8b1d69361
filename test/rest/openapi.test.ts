import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { CredentialKind } from '../../src/entities/enums';
import { EMAIL_CHANGE_OPENAPI } from '../../src/rest/email-change.routes';
import { ENDPOINTS } from '../../src/rest/routes';
import { documentPath, openApiDocument } from '../../src/rest/openapi';
import { useApp } from '../support/harness';
import { bearer, contract, type ContractId, send } from './rest-support';

/*
 * The two checkers are ES modules: Node (22.12 and later, as package.json's engines ask) loads them
 * with require() in this process, as it loads the app's packages for the tests.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Validator } = require('@seriousme/openapi-schema-validator') as {
  Validator: new () => {
    version: string;
    validate(document: unknown): Promise<{ valid: boolean; errors?: unknown }>;
  };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const redocly = require('@redocly/openapi-core') as {
  createConfig(config: { extends: string[] }): Promise<unknown>;
  lint(options: { ref: string; config: unknown }): Promise<
    Array<{
      severity: 'error' | 'warn';
      ruleId: string;
      message: string;
      location: Array<{ pointer?: string }>;
    }>
  >;
};

/** @seriousme/openapi-schema-validator: is the document valid OpenAPI? (It is given a copy to work on.) */
async function validateOpenApi(
  document: unknown,
): Promise<{ valid: boolean; errors?: unknown; version?: string }> {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document));
  return { ...result, version: validator.version };
}

interface LintProblem {
  severity: 'error' | 'warn';
  ruleId: string;
  message: string;
  at: string | undefined;
}

/**
 * Lints a file as `redocly lint` does with no configuration (the `recommended` ruleset), through
 * @redocly/openapi-core, the CLI's own engine.
 */
async function redoclyLint(file: string): Promise<LintProblem[]> {
  const config = await redocly.createConfig({ extends: ['recommended'] });
  const problems = await redocly.lint({ ref: file, config });
  return problems.map((p) => ({
    severity: p.severity,
    ruleId: p.ruleId,
    message: p.message,
    at: p.location[0]?.pointer,
  }));
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'options', 'head', 'trace'];

/** Every operation of the document: `METHOD /path`, its path item and the operation. */
function operationsOf(document: any) {
  return Object.entries<any>(document.paths).flatMap(([p, item]) =>
    Object.keys(item)
      .filter((key) => METHODS.includes(key))
      .map((method) => ({
        name: `${method.toUpperCase()} ${p}`,
        path: p,
        method,
        item,
        operation: item[method],
      })),
  );
}

/** Follows a `$ref` within the document. */
function resolve(document: any, value: any): any {
  if (!value?.$ref) return value;
  return resolve(
    document,
    value.$ref
      .slice(2)
      .split('/')
      .reduce((node: any, key: string) => node[key], document),
  );
}

describe('GET /openapi.json', () => {
  let document: any;

  const app = useApp({ world: true });

  beforeAll(async () => {
    document = (await send(app.url, 'GET', '/openapi.json')).body;
  });

  it('is served with an ETag; If-None-Match naming it (weakly compared, in a list, or *) answers 304', async () => {
    const first = await fetch(`${app.url}/openapi.json`);
    const etag = first.headers.get('etag')!;
    expect(first.status).toBe(200);
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await fetch(`${app.url}/openapi.json`, { headers: { 'if-none-match': ifNoneMatch } });
      expect({ ifNoneMatch, status: again.status }).toEqual({ ifNoneMatch, status: 304 });
    }
    expect((await fetch(`${app.url}/openapi.json`, { headers: { 'if-none-match': '"other"' } })).status).toBe(
      200,
    );
  });

  it('If-Match is judged too: naming the ETag (strongly compared, in a list, or *) it answers, else 412', async () => {
    const etag = (await fetch(`${app.url}/openapi.json`)).headers.get('etag')!;
    for (const [ifMatch, status] of [
      [etag, 200],
      [`"other", ${etag}`, 200],
      ['*', 200],
      [`W/${etag}`, 412],
      ['"other"', 412],
    ] as const) {
      const res = await fetch(`${app.url}/openapi.json`, { headers: { 'if-match': ifMatch } });
      expect({ ifMatch, status: res.status }).toEqual({ ifMatch, status });
    }
    const refused = await fetch(`${app.url}/openapi.json`, { headers: { 'if-match': '"other"' } });
    expect(await refused.json()).toMatchObject({ error: 'precondition_failed' });
    // If-Match comes first: a failing one is 412 even where If-None-Match alone would be 304.
    const both = await fetch(`${app.url}/openapi.json`, {
      headers: { 'if-match': '"other"', 'if-none-match': etag },
    });
    expect(both.status).toBe(412);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toBe('3.1.0');
    expect(await validateOpenApi(document)).toEqual({ valid: true, version: '3.1' });
  });

  it('passes redocly lint (recommended rules) with no errors and no warnings', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-lint-'));
    try {
      const file = path.join(dir, 'openapi.json');
      fs.writeFileSync(file, JSON.stringify(document, null, 2));
      const problems = await redoclyLint(file);
      expect(problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is the document generated from the endpoint definitions, with a license and servers', () => {
    expect(document).toEqual(JSON.parse(JSON.stringify(openApiDocument(ENDPOINTS, EMAIL_CHANGE_OPENAPI))));
    expect(document.info.license).toEqual({ name: 'MIT', identifier: 'MIT' });
    expect(document.servers.map((server: { url: string }) => server.url)).toEqual([
      '/',
      'http://{host}:{port}',
    ]);
    expect(document.servers[1].variables).toEqual({
      host: expect.objectContaining({ default: '127.0.0.1' }),
      port: expect.objectContaining({ default: '4000' }),
    });
  });

  it('describes exactly the shim routes and methods', () => {
    expect(
      operationsOf(document)
        .map((o) => o.name)
        .sort(),
    ).toEqual(
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
        'GET /v1/email-change/confirm',
        'POST /v1/email-change/confirm',
        'GET /v1/email-change/cancel',
        'POST /v1/email-change/cancel',
      ].sort(),
    );
  });

  it('gives every operation its own operationId: the document’s on the full path, derived on the alias', () => {
    const ids = operationsOf(document).map((o) => o.operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.paths['/v2/user'].put.operationId).toBe('updateCurrentUser');
    expect(document.paths['/user'].put.operationId).toBe('updateCurrentUserWithoutServerPrefix');
    expect(document.paths['/user'].get.operationId).toBe('getCurrentUserWithoutServerPrefix');
    expect(document.paths['/v1/api/users/{userId}'].post.operationId).toBe('updateUser');
    expect(document.paths['/api/users/{userId}'].post.operationId).toBe('updateUserWithoutServerPrefix');
    expect(document.paths['/api/users/{userId}'].get.operationId).toBe('getUserWithoutServerPrefix');
    expect(document.info.description).toContain('WithoutServerPrefix');
  });

  it('keeps the operationId a contract names (000’s and 003’s) on its full documented path', () => {
    const named = ENDPOINTS.map((endpoint) => contract(endpoint.id as ContractId)).filter(
      (theirs) => typeof theirs.operationId === 'string',
    );
    expect(named.map((theirs) => theirs.id)).toEqual(['000', '003']);
    for (const theirs of named) {
      const write = document.paths[theirs.paths[0]][theirs.method.toLowerCase()];
      expect({ path: theirs.paths[0], operationId: write.operationId }).toEqual({
        path: theirs.paths[0],
        operationId: theirs.operationId,
      });
    }
  });

  describe.each(ENDPOINTS.map((endpoint) => [endpoint.id, endpoint] as const))(
    'endpoint %s against its contract',
    (id, endpoint) => {
      const theirs = () => contract(id as ContractId);
      const writes = () =>
        theirs().paths.map((p) => document.paths[p][theirs().method.toLowerCase()] as Record<string, any>);

      it('serves the contract’s paths with its method, on exactly the endpoint’s paths', () => {
        expect(theirs().paths).toEqual(endpoint.paths.map(documentPath));
        for (const p of theirs().paths) {
          expect(Object.keys(document.paths[p]).filter((key) => METHODS.includes(key))).toEqual([
            'get',
            theirs().method.toLowerCase(),
          ]);
        }
      });

      it('takes the contract’s credential in the places it names, and only there', () => {
        for (const operation of writes()) {
          const schemes = operation.security.map(
            (requirement: object) => document.components.securitySchemes[Object.keys(requirement)[0]],
          );
          const places = schemes.map((scheme: any) =>
            scheme.type === 'http'
              ? { in: 'header', name: 'Authorization', scheme: 'Bearer' }
              : { in: scheme.in, name: scheme.name },
          );
          expect(places).toEqual(theirs().credential.sources);
        }
      });

      it('documents every status the contract documents, with the contract’s request fields', () => {
        const request = resolve(theirs(), theirs().requestSchema);
        for (const operation of writes()) {
          for (const status of Object.keys(theirs().responses))
            expect(operation.responses).toHaveProperty(status);
          expect(operation.requestBody.content).toHaveProperty(theirs().contentType);
          if (theirs().requestBodyRequired) expect(operation.requestBody.required).toBe(true);
          const ours = resolve(document, Object.values<any>(operation.requestBody.content)[0].schema);
          for (const field of Object.keys(request.properties ?? {}))
            expect(ours.properties).toHaveProperty(field);
          for (const field of request.required ?? []) expect(ours.required).toContain(field);
        }
      });

      it('documents the path parameters with the contract’s types', () => {
        const parameters = (theirs().pathParameters ?? {}) as Record<string, { type: string }>;
        for (const p of theirs().paths) {
          const ours = document.paths[p].parameters.filter((parameter: any) => parameter.in === 'path');
          expect(ours.map((parameter: any) => [parameter.name, parameter.schema.type])).toEqual(
            Object.entries(parameters).map(([name, { type }]) => [name, type]),
          );
        }
      });

      it('documents every request field of the endpoint, enums with their documented values', () => {
        const ours = document.components.schemas[endpoint.openapi.schemas.request];
        for (const field of endpoint.fields) {
          const schema = resolve(document, ours.properties[field.rest]);
          expect([field.rest, schema !== undefined]).toEqual([field.rest, true]);
          if (field.type.kind === 'enum') {
            const values = schema.enum ?? resolve(document, schema.anyOf[0]).enum;
            expect([...values].sort()).toEqual(Object.keys(field.type.values).sort());
          }
          if (field.required) expect(ours.required).toContain(field.rest);
        }
      });

      it('documents the headers, media types and statuses the endpoint sends', () => {
        const mediaTypes = endpoint.write.mediaTypes ?? ['application/json'];
        const byId = endpoint.paths[0].includes(':');
        for (const p of theirs().paths) {
          const item = document.paths[p];
          expect(item.parameters).toContainEqual({ $ref: '#/components/parameters/X-Request-Id' });
          expect(item.description).toContain('405');
          const read = item.get;
          const write = item[endpoint.write.method];
          expect(Object.keys(write.requestBody.content)).toEqual(mediaTypes);
          expect(write.parameters).toEqual([
            { $ref: '#/components/parameters/If-Match' },
            { $ref: '#/components/parameters/If-None-Match' },
            { $ref: '#/components/parameters/If-Unmodified-Since' },
            { $ref: '#/components/parameters/Idempotency-Key' },
            { $ref: '#/components/parameters/dry_run' },
          ]);
          expect(read.parameters).toEqual([
            { $ref: '#/components/parameters/If-Match' },
            { $ref: '#/components/parameters/If-None-Match' },
            { $ref: '#/components/parameters/If-Unmodified-Since' },
            { $ref: '#/components/parameters/If-Modified-Since' },
          ]);
          expect(Object.keys(read.responses)).toEqual(
            byId
              ? ['200', '304', '400', '401', '403', '404', '412', '429', '500']
              : ['200', '304', '401', '403', '412', '429', '500'],
          );
          expect(read.responses['304']).not.toHaveProperty('content');
          expect(read.responses['304'].headers).toHaveProperty('ETag');
          expect(read.responses['304'].headers).toHaveProperty('Last-Modified');
          expect(Object.keys(write.responses)).toEqual(
            byId
              ? ['200', '400', '401', '403', '404', '409', '412', '413', '415', '422', '429', '500']
              : ['200', '400', '401', '403', '409', '412', '413', '415', '422', '429', '500'],
          );
          for (const operation of [read, write]) {
            for (const [status, response] of Object.entries<any>(operation.responses)) {
              if (status === '304') continue;
              expect(Object.keys(response.content)).toEqual(['application/json']);
              expect(response.headers).toHaveProperty('X-Request-Id');
            }
            expect(operation.responses['200'].headers).toHaveProperty('ETag');
            expect(operation.responses['401'].headers['WWW-Authenticate'].schema.enum).toEqual([
              endpoint.credential.challenge,
            ]);
            expect(Object.keys(operation.responses['429'].headers)).toEqual(
              expect.arrayContaining([
                'Retry-After',
                'RateLimit-Limit',
                'RateLimit-Remaining',
                'RateLimit-Reset',
              ]),
            );
          }
          expect(Object.keys(write.responses['200'].headers)).toEqual(
            expect.arrayContaining([
              'RateLimit-Limit',
              'RateLimit-Remaining',
              'RateLimit-Reset',
              'Idempotent-Replayed',
            ]),
          );
          expect(read.responses['200'].headers).not.toHaveProperty('Idempotent-Replayed');
        }
      });
    },
  );

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

  it('names every header and media type of live answers, errors and 304s included', async () => {
    /** The connection's own headers, which no OpenAPI operation describes. */
    const transport = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive']);
    const undocumented: string[] = [];
    const check = async (
      method: string,
      template: string,
      url: string,
      headers: Record<string, string>,
      raw?: string,
    ) => {
      const answer = await send(app.url, method, url, {
        headers: raw === undefined ? headers : { 'content-type': 'application/json', ...headers },
        raw,
      });
      const documented = document.paths[template][method.toLowerCase()].responses[String(answer.status)];
      if (!documented) {
        undocumented.push(`${method} ${url} ${answer.status}: the status`);
        return answer;
      }
      const names = new Set(Object.keys(documented.headers ?? {}).map((name) => name.toLowerCase()));
      for (const name of answer.headers.keys())
        if (!transport.has(name) && !names.has(name))
          undocumented.push(`${method} ${url} ${answer.status}: ${name}`);
      const mediaType = answer.headers.get('content-type')?.split(';')[0];
      if (mediaType && !(mediaType in (documented.content ?? {})))
        undocumented.push(`${method} ${url} ${answer.status}: ${mediaType}`);
      return answer;
    };
    const member = `/api/v1/users/${app.world.member.id}`;
    const template = '/api/v1/users/{id}';
    const admin = bearer(app.world.adminToken);
    const ok = await check('PATCH', template, member, admin, JSON.stringify({ name: 'Header Check' }));
    expect(ok.status).toBe(200);
    const statuses = [
      await check('GET', template, member, { ...admin, 'if-none-match': ok.headers.get('etag')! }),
      await check('PATCH', template, member, admin, JSON.stringify({ role: 'boss' })),
      await check('PATCH', template, member, { ...admin, 'if-match': '"0"' }, JSON.stringify({ name: 'x' })),
      await check('PATCH', template, member, { ...admin, 'content-type': 'text/plain' }, 'name=x'),
      await check('PATCH', template, member, {}, JSON.stringify({ name: 'x' })),
      await check('GET', '/v1/email-change/confirm', '/v1/email-change/confirm?token=not-a-token', {}),
      await check('GET', '/v1/email-change/confirm', '/v1/email-change/confirm?token=not-a-token', {
        accept: 'text/html',
      }),
    ].map((answer) => answer.status);
    // The answers examined are the ones named: a 304, the errors, and the links' refusals.
    expect(statuses).toEqual([304, 400, 412, 415, 401, 400, 400]);
    expect(undocumented).toEqual([]);
  });

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
    const stale002 = await send(app.url, 'PATCH', `/v1/users/${app.world.member.id}`, {
      headers: { ...bearer(key), 'if-match': '"999999"' },
      json: { last_name: 'Stale' },
    });
    expect(stale002.status).toBe(412);
    check('Error002', stale002.body);
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

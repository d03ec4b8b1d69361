import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

/** The seed documents sit beside the repository (`../shared/seeds`), locally and in CI. */
export const SEEDS_DIR = path.resolve(__dirname, '../../../shared/seeds');

export interface RestResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Sent as JSON with Content-Type application/json unless `raw` is given. */
  json?: unknown;
  raw?: string | Buffer;
}

/** One real HTTP request; the body is parsed as JSON when the server says it is JSON. */
export async function send(
  baseUrl: string,
  method: string,
  pathname: string,
  options: RequestOptions = {},
): Promise<RestResponse> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | undefined = options.raw;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${baseUrl}${pathname}`, { method, headers, body });
  const text = await response.text();
  const isJson = response.headers.get('content-type')?.includes('application/json');
  return {
    status: response.status,
    headers: response.headers,
    body: isJson && text ? JSON.parse(text) : text,
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const apiKeyHeader = (token: string) => ({ 'x-api-key': token });
export const jwtHeader = (token: string) => ({ 'x-jwt-token': token });
export const jwtCookie = (token: string) => ({ cookie: `jwt=${token}` });

function seedFile(documentNumber: string): string {
  if (!fs.existsSync(SEEDS_DIR)) {
    throw new Error(`The seed documents are expected at ${SEEDS_DIR} (shared/ beside the repository)`);
  }
  const name = fs.readdirSync(SEEDS_DIR).find((file) => file.startsWith(`${documentNumber}_`));
  if (!name) throw new Error(`No seed document ${documentNumber} in ${SEEDS_DIR}`);
  return fs.readFileSync(path.join(SEEDS_DIR, name), 'utf8');
}

/** The OpenAPI YAML embedded in a seed document, parsed. */
export function seedOpenApi(documentNumber: '000' | '001' | '003'): any {
  const match = /````yaml[^\n]*\n([\s\S]*?)\n````/.exec(seedFile(documentNumber));
  if (!match) throw new Error(`Seed document ${documentNumber} has no OpenAPI block`);
  return parseYaml(match[1]);
}

/** Validators for a seed document's component schemas, by schema name. */
export function seedSchemaValidator(
  documentNumber: '000' | '001' | '003',
): (name: string) => ValidateFunction {
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  const id = `seed${documentNumber}`;
  ajv.addSchema({ $id: id, components: seedOpenApi(documentNumber).components }, id);
  return (name) => {
    const validate = ajv.getSchema(`${id}#/components/schemas/${name}`);
    if (!validate) throw new Error(`Seed ${documentNumber} has no schema ${name}`);
    return validate;
  };
}

/** Asserts `value` matches the named seed schema, showing ajv's errors when it does not. */
export function expectSeedSchema(
  validator: (name: string) => ValidateFunction,
  name: string,
  value: unknown,
) {
  const validate = validator(name);
  const valid = validate(value);
  expect({ valid, errors: validate.errors ?? null }).toEqual({ valid: true, errors: null });
}

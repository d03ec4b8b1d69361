import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { User } from '../../src/entities/user.entity';
import type { TestApp } from '../support/harness';

/** The machine-readable contracts of the five documented endpoints (see test/contracts/README.md). */
export const CONTRACTS_DIR = path.resolve(__dirname, '../contracts');

import type { RestResponse } from '../support/http';

export {
  apiKeyHeader,
  bearer,
  jwtCookie,
  jwtHeader,
  type RequestOptions,
  type RestResponse,
  send,
} from '../support/http';

export type ContractId = '000' | '001' | '002' | '003' | '004';

/** One endpoint's contract, as stored in `test/contracts/<id>-<name>.json`. */
export interface Contract {
  id: ContractId;
  title: string;
  documentedPath: string;
  documentedServer: string | null;
  paths: string[];
  method: string;
  credential: {
    text: string;
    kinds: string[];
    sources: Array<{ in: 'header' | 'cookie'; name: string; scheme?: string }>;
    scopes?: string[];
    refused?: string[];
  };
  contentType: string;
  requestSchema: object;
  /** A JSON Schema for the body of each documented status code. */
  responses: Record<string, object>;
  components?: { schemas: Record<string, any> };
  [fact: string]: unknown;
}

const contracts = new Map<ContractId, Contract>();

/** Loads contract `id` from test/contracts (parsed once). */
export function contract(id: ContractId): Contract {
  let loaded = contracts.get(id);
  if (!loaded) {
    const name = fs
      .readdirSync(CONTRACTS_DIR)
      .find((file) => file.startsWith(`${id}-`) && file.endsWith('.json'));
    if (!name) throw new Error(`No contract ${id} in ${CONTRACTS_DIR}`);
    loaded = JSON.parse(fs.readFileSync(path.join(CONTRACTS_DIR, name), 'utf8')) as Contract;
    if (loaded.id !== id) throw new Error(`${name} holds contract ${loaded.id}, not ${id}`);
    contracts.set(id, loaded);
  }
  return loaded;
}

/**
 * Looks a schema of one contract up by name: a component schema (`'User'`) or one of its properties
 * (`'User.email'`), a documented status code (`'200'`, `'409'`: that response's body schema) or
 * `'request'` (the request body schema).
 */
export type ContractValidator = (schemaName: string) => ValidateFunction;

const validators = new Map<ContractId, ContractValidator>();

/** Validators (ajv + ajv-formats) for the schemas of contract `id`, by schema name. */
export function contractValidator(id: ContractId): ContractValidator {
  const cached = validators.get(id);
  if (cached) return cached;
  const { components, requestSchema, responses } = contract(id);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  const key = `contract${id}`;
  // One schema document, so the contract's `#/components/schemas/…` references resolve inside it.
  ajv.addSchema({ $id: key, components, requestSchema, responses }, key);
  const validator: ContractValidator = (schemaName) => {
    let pointer: string;
    const [component, property] = schemaName.split('.');
    if (components?.schemas && Object.hasOwn(components.schemas, component)) {
      pointer = `/components/schemas/${component}${property === undefined ? '' : `/properties/${property}`}`;
    } else if (Object.hasOwn(responses, schemaName)) {
      pointer = `/responses/${schemaName}`;
    } else if (schemaName === 'request') {
      pointer = '/requestSchema';
    } else {
      throw new Error(`Contract ${id} has no schema ${schemaName}`);
    }
    const validate = ajv.getSchema(`${key}#${pointer}`);
    if (!validate) throw new Error(`Contract ${id}: schema ${schemaName} did not compile`);
    return validate;
  };
  validators.set(id, validator);
  return validator;
}

/**
 * Asserts `value` matches the named schema of a contract (a validator from `contractValidator`, or the
 * contract's id), showing ajv's errors when it does not.
 */
export function expectContractSchema(
  validator: ContractValidator | ContractId,
  name: string,
  value: unknown,
) {
  const validate = (typeof validator === 'string' ? contractValidator(validator) : validator)(name);
  const valid = validate(value);
  expect({ name, valid, errors: validate.errors ?? null }).toEqual({ name, valid: true, errors: null });
}

/** Asserts the response's status is documented by contract `id` and its body matches that status's schema. */
export function expectContractResponse(id: ContractId, response: Pick<RestResponse, 'status' | 'body'>) {
  const documented = Object.keys(contract(id).responses);
  expect({ status: response.status, documented: documented.includes(String(response.status)) }).toEqual({
    status: response.status,
    documented: true,
  });
  expectContractSchema(id, String(response.status), response.body);
}

/**
 * Gives a new user of the world's organization the id a documented example writes (such as `usr_abc123`), and
 * returns the function that sends their PATCH as written: Bearer `token`, JSON content type, `body` as is.
 */
export async function documentedExamples(app: TestApp, userId: string, token: string) {
  const user = await app.fixtures.user(app.world.orgId);
  // Through the app's Database, whose units of work on SQLite's one TypeORM connection take turns.
  await app.services.db.write((m) =>
    m.createQueryBuilder().update(User).set({ id: userId }).where('id = :id', { id: user.id }).execute(),
  );
  return (url: string, body: string) =>
    fetch(url, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    });
}

/** A stored user as a contract shows it: `columns`, under their own names or in snake_case. */
export function userView(columns: Array<keyof User>, naming: 'camelCase' | 'snake_case' = 'camelCase') {
  const nameOf = (column: string) =>
    naming === 'snake_case' ? column.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`) : column;
  return (user: User) => Object.fromEntries(columns.map((column) => [nameOf(column), user[column]]));
}

/** Sends `changes` through `patch` to a new user of the world's organization: the answer, and the row after it. */
export async function patchNewUser(
  app: TestApp,
  patch: (id: string, json: unknown) => Promise<RestResponse>,
  changes: Record<string, unknown>,
) {
  const user = await app.fixtures.user(app.world.orgId);
  const res = await patch(user.id, changes);
  return { res, stored: await app.stored(user.id) };
}

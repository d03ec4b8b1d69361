import http from 'node:http';
import zlib from 'node:zlib';
import { useApp } from '../support/harness';
import { Role } from '../../src/entities/enums';
import { credentialsFor, restTargets, type RestTarget } from '../security/security-support';

/**
 * Today's answers to requests in unusual shapes, pinned before the HTTP entry is rebuilt: the same
 * request must get the same status, media type, Allow and body (per-request values masked) afterwards.
 */

interface Unusual {
  method: string;
  path: string;
  /** Header name → value, or several values sent as separate header lines. */
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length). */
  chunked?: boolean;
}

interface Pinned {
  status: number;
  type: string | undefined;
  allow: string | undefined;
  etag: boolean;
  requestId: string;
  body: string;
}

function sendUnusual(url: string, request: Unusual): Promise<Pinned> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${request.path}`, { method: request.method, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'],
          allow: res.headers.allow,
          etag: res.headers.etag !== undefined,
          requestId: typeof res.headers['x-request-id'],
          body: text
            .replace(/"(updatedAt|updated_at|createdAt|created_at)":"[^"]*"/g, '"$1":…')
            .replace(/"version":\d+/g, '"version":…')
            .replace(/\b(usr|org)_[A-Za-z0-9_-]+/g, '$1_…')
            .replace(/"id":\d+/g, '"id":…')
            .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'uuid')
            .replace(/"email":"[^"]*"/g, '"email":…')
            .replace(/position \d+[^"]*/g, 'position …'),
        }),
      );
    });
    req.on('error', reject);
    for (const [name, value] of Object.entries(request.headers)) req.setHeader(name, value);
    if (request.body === undefined) {
      req.end();
    } else if (request.chunked) {
      req.setHeader('transfer-encoding', 'chunked');
      req.write(request.body.subarray(0, 1));
      req.end(request.body.subarray(1));
    } else {
      req.setHeader('content-length', request.body.length);
      req.end(request.body);
    }
  });
}

/** The unusual shapes of one write: `json` is a body the target accepts. */
function shapes(method: string, path: string, credential: Record<string, string>, json: string) {
  const body = Buffer.from(json);
  const jsonType = { ...credential, 'content-type': 'application/json' };
  const cases: Record<string, Unusual> = {
    'plain JSON': { method, path, headers: jsonType, body },
    chunked: { method, path, headers: jsonType, body, chunked: true },
    gzip: { method, path, headers: { ...jsonType, 'content-encoding': 'gzip' }, body: zlib.gzipSync(body) },
    deflate: {
      method,
      path,
      headers: { ...jsonType, 'content-encoding': 'deflate' },
      body: zlib.deflateSync(body),
    },
    'unknown content-encoding': {
      method,
      path,
      headers: { ...jsonType, 'content-encoding': 'x-unknown' },
      body,
    },
    'byte-order mark': {
      method,
      path,
      headers: jsonType,
      body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]),
    },
    'charset=utf-8': {
      method,
      path,
      headers: { ...credential, 'content-type': 'application/json; charset=utf-8' },
      body,
    },
    'charset="UTF-8"': {
      method,
      path,
      headers: { ...credential, 'content-type': 'application/json; charset="UTF-8"' },
      body,
    },
    'charset=latin1': {
      method,
      path,
      headers: { ...credential, 'content-type': 'application/json; charset=latin1' },
      body,
    },
    'charset=utf-16le': {
      method,
      path,
      headers: { ...credential, 'content-type': 'application/json; charset=utf-16le' },
      body: Buffer.from(json, 'utf16le'),
    },
    'merge-patch+json': {
      method,
      path,
      headers: { ...credential, 'content-type': 'application/merge-patch+json' },
      body,
    },
    'text/plain': { method, path, headers: { ...credential, 'content-type': 'text/plain' }, body },
    'no content-type': { method, path, headers: credential, body },
    'empty body': { method, path, headers: jsonType, body: Buffer.alloc(0) },
    'too large': { method, path, headers: jsonType, body: Buffer.from(`{"x":"${'a'.repeat(70_000)}"}`) },
    'too large, chunked': {
      method,
      path,
      headers: jsonType,
      body: Buffer.from(`{"x":"${'a'.repeat(70_000)}"}`),
      chunked: true,
    },
    'two content-types': {
      method,
      path,
      headers: { ...credential, 'content-type': ['application/json', 'text/plain'] },
      body,
    },
    'two request ids': {
      method,
      path,
      headers: { ...jsonType, 'x-request-id': ['first-id', 'second-id'] },
      body,
    },
    HEAD: { method: 'HEAD', path, headers: credential },
    OPTIONS: { method: 'OPTIONS', path, headers: credential },
    DELETE: { method: 'DELETE', path, headers: credential },
  };
  return cases;
}

async function answers(url: string, cases: Record<string, Unusual>) {
  const result: Record<string, Pinned> = {};
  for (const [name, request] of Object.entries(cases)) result[name] = await sendUnusual(url, request);
  return result;
}

describe('requests in unusual shapes get the answers they got before the HTTP entry was rebuilt', () => {
  const app = useApp({ world: true });
  let targets: RestTarget[];

  beforeAll(async () => {
    const admin = await app.fixtures.user(await app.fixtures.org(), { role: Role.ADMIN });
    targets = restTargets(await credentialsFor(app.fixtures, admin), admin);
  });

  it('POST /graphql', async () => {
    const query = JSON.stringify({
      query: 'mutation { updateMe(input: { jobTitle: "Pinned" }) { id jobTitle } }',
    });
    const cases = shapes('POST', '/graphql', { authorization: `Bearer ${app.world.adminToken}` }, query);
    cases['GET with a query'] = {
      method: 'GET',
      path: '/graphql?query=%7B%20me%20%7B%20name%20%7D%20%7D',
      headers: { authorization: `Bearer ${app.world.adminToken}`, 'apollo-require-preflight': 'true' },
    };
    expect(await answers(app.url, cases)).toMatchSnapshot();
  });

  it.each(['000', '001', '002', '003', '004'])('REST endpoint %s', async (id) => {
    const target = targets.find((t) => t.id === id)!;
    const credential = target.headers;
    const cases = shapes(target.method, target.path, credential, JSON.stringify(target.valid));
    cases['GET'] = { method: 'GET', path: target.path, headers: credential };
    cases['path with a trailing slash'] = { method: 'GET', path: `${target.path}/`, headers: credential };
    cases['query string'] = { method: 'GET', path: `${target.path}?a=1`, headers: credential };
    expect(await answers(app.url, cases)).toMatchSnapshot();
  });

  it('paths no route takes', async () => {
    const cases: Record<string, Unusual> = {
      root: { method: 'GET', path: '/', headers: {} },
      unknown: { method: 'GET', path: '/no/such/path', headers: {} },
      'unknown POST': {
        method: 'POST',
        path: '/no/such/path',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{}'),
      },
      'a bad percent-encoding on 002': { method: 'GET', path: '/v1/users/%E0%A4%A', headers: {} },
      'upper-case path': { method: 'GET', path: '/V1/USERS/ME', headers: {} },
      healthz: { method: 'GET', path: '/healthz', headers: {} },
      'HEAD healthz': { method: 'HEAD', path: '/healthz', headers: {} },
      'POST healthz': { method: 'POST', path: '/healthz', headers: {} },
      openapi: { method: 'HEAD', path: '/openapi.json', headers: {} },
    };
    expect(await answers(app.url, cases)).toMatchSnapshot();
  });
});

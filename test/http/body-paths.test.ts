import http from 'node:http';
import { CredentialKind } from '../../src/entities/enums';
import { useApp, useOrgAdmin } from '../support/harness';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends `body` either with a Content-Length (plain JSON is then read directly) or chunked (read by
 * body-parser), so the same request can be compared on both paths.
 */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string,
  chunked: boolean,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (chunked) {
      req.setHeader('transfer-encoding', 'chunked');
      req.write(body.slice(0, 1));
      req.end(body.slice(1));
    } else {
      req.setHeader('content-length', Buffer.byteLength(body));
      req.end(body);
    }
  });
}

/** What must be the same on both paths: status, media type, and the body without per-request values. */
function comparable(answer: Answer) {
  return {
    status: answer.status,
    type: answer.headers['content-type'],
    requestId: typeof answer.headers['x-request-id'],
    body: answer.body
      .replace(/"(updatedAt|updated_at|version)":("[^"]*"|\d+)/g, '"$1":…')
      .replace(/\b(via-length|via-chunks)\b/g, 'via-…'),
  };
}

describe('a body sent with a Content-Length (read directly) and the same body sent in chunks (read by body-parser) get the same answer', () => {
  let apiKey: string;
  let memberId: string;

  const app = useApp();
  const org = useOrgAdmin(app, 'Bodies');

  beforeAll(async () => {
    const member = await app.fixtures.user(org.orgId);
    memberId = member.id;
    apiKey = (await app.fixtures.token(member.id, CredentialKind.API_KEY)).token;
  });

  // Each body, and the status both paths answer it with.
  const GRAPHQL_BODIES: Array<[string, string, number]> = [
    ['a query', JSON.stringify({ query: '{ me { id role } }' }), 200],
    [
      'a mutation',
      JSON.stringify({
        query: `mutation { updateUser(id: "${'$ID'}", input: { jobTitle: "$TAG" }) { id jobTitle } }`,
      }),
      200,
    ],
    ['malformed JSON', '{"query": ', 400],
    ['a JSON string', '"{ me { id } }"', 400],
    ['whitespace only', '   \n ', 400],
    ['a byte-order mark first', `\uFEFF${JSON.stringify({ query: '{ me { id } }' })}`, 200],
    ['an empty object', '{}', 400],
    ['an array (batching is off)', JSON.stringify([{ query: '{ me { id } }' }]), 400],
    ['an unknown field', JSON.stringify({ query: '{ me { nope } }' }), 400],
  ];

  it.each(GRAPHQL_BODIES)('POST /graphql with %s', async (_name, raw, status) => {
    // Each path writes its own value, so that both really write.
    const body = (tag: string) => raw.replace('$ID', memberId).replace('$TAG', tag);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${org.adminToken}` };
    const withLength = await send(app.url, 'POST', '/graphql', headers, body('via-length'), false);
    const chunked = await send(app.url, 'POST', '/graphql', headers, body('via-chunks'), true);
    expect(comparable(withLength)).toEqual(comparable(chunked));
    expect(withLength.status).toBe(status);
    if (raw.includes('$TAG')) {
      // The writing body: each path wrote its own value, the chunked one last.
      expect(JSON.parse(withLength.body).data.updateUser.jobTitle).toBe('via-length');
      expect(JSON.parse(chunked.body).data.updateUser.jobTitle).toBe('via-chunks');
      expect((await app.stored(memberId)).jobTitle).toBe('via-chunks');
    }
  });

  it('POST /graphql: a charset parameter, a query string, and a refused credential', async () => {
    const body = JSON.stringify({ query: '{ me { id } }' });
    for (const headers of [
      { 'content-type': 'application/json; charset=UTF-8', authorization: `Bearer ${org.adminToken}` },
      { 'content-type': 'application/json', authorization: 'Bearer not-a-token' },
    ]) {
      const withLength = await send(app.url, 'POST', '/graphql?x=1', headers, body, false);
      const chunked = await send(app.url, 'POST', '/graphql?x=1', headers, body, true);
      expect(comparable(withLength)).toEqual(comparable(chunked));
      expect(withLength.headers['www-authenticate']).toBe(chunked.headers['www-authenticate']);
    }
  });

  const REST_BODIES: Array<[string, string, number]> = [
    ['a change', JSON.stringify({ name: 'Body $TAG' }), 200],
    ['a field error', JSON.stringify({ name: '' }), 400],
    ['malformed JSON', '{"name": ', 400],
    ['an array', '[]', 400],
  ];

  it.each(REST_BODIES)('PATCH /v1/users/me with %s', async (_name, raw, status) => {
    const body = (tag: string) => raw.replace('$TAG', tag);
    const headers = { 'content-type': 'application/json', 'x-api-key': apiKey };
    const withLength = await send(app.url, 'PATCH', '/v1/users/me', headers, body('via-length'), false);
    const chunked = await send(app.url, 'PATCH', '/v1/users/me', headers, body('via-chunks'), true);
    expect(comparable(withLength)).toEqual(comparable(chunked));
    expect(withLength.status).toBe(status);
    expect(withLength.headers.etag === undefined).toBe(chunked.headers.etag === undefined);
  });

  it('a REST write with a percent-encoded id, and a method the path does not take', async () => {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${org.adminToken}` };
    const body = JSON.stringify({ name: 'Encoded' });
    const encoded = `/api/v1/users/${encodeURIComponent(memberId)}`;
    const withLength = await send(app.url, 'PATCH', encoded, headers, body, false);
    const chunked = await send(app.url, 'PATCH', encoded, headers, body, true);
    expect(withLength.status).toBe(200);
    expect(comparable(withLength)).toEqual(comparable(chunked));
    const wrongMethod = await send(app.url, 'POST', encoded, headers, body, false);
    expect(wrongMethod.status).toBe(405);
    const malformed = await send(app.url, 'PATCH', '/api/v1/users/%ED%A0%80', headers, body, false);
    expect(malformed.status).toBe(400);
  });

  it('counts requests in the metrics under their route templates', async () => {
    const count = async (labels: string) => {
      const metrics = await (await fetch(`${app.url}/metrics`)).text();
      const line = metrics.split('\n').find((l) => l.startsWith(`http_requests_total{${labels}} `));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const byId = 'method="PATCH",route="/api/v1/users/:id",status="200"';
    const me = 'method="PATCH",route="/v1/users/me",status="200"';
    const graphql = 'method="POST",route="/graphql",status="200"';
    const before = { byId: await count(byId), me: await count(me), graphql: await count(graphql) };
    const json = { 'content-type': 'application/json' };
    const admin = { ...json, authorization: `Bearer ${org.adminToken}` };
    const counted = JSON.stringify({ name: 'Counted' });
    expect((await send(app.url, 'PATCH', `/api/v1/users/${memberId}`, admin, counted, false)).status).toBe(
      200,
    );
    expect(
      (await send(app.url, 'PATCH', '/v1/users/me/', { ...json, 'x-api-key': apiKey }, counted, false))
        .status,
    ).toBe(200);
    const query = JSON.stringify({ query: '{ me { id } }' });
    expect((await send(app.url, 'POST', '/graphql', admin, query, false)).status).toBe(200);
    // One more each, under the template (the id, and the trailing slash, are not a route of their own).
    expect({ byId: await count(byId), me: await count(me), graphql: await count(graphql) }).toEqual({
      byId: before.byId + 1,
      me: before.me + 1,
      graphql: before.graphql + 1,
    });
  });
});

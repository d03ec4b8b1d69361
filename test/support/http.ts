import http from 'node:http';

/** One answer, its body parsed as JSON when the server says it is JSON. */
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

/**
 * One request over node:http, its whole answer read as text: through the keep-alive agent, or on a
 * connection of its own (`ownConnection`). Rejects with the socket error when there is one.
 */
function requestAndReadBody(
  url: string,
  method: string,
  headers: Record<string, string | string[] | number>,
  body: string | Buffer | undefined,
  ownConnection = false,
): Promise<{ response: http.IncomingMessage; text: string }> {
  return new Promise((resolve, reject) => {
    const options = { method, headers, ...(ownConnection ? { agent: false } : {}) };
    const outgoing = http.request(url, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ response, text }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/**
 * One request through the keep-alive agent: a fraction of fetch's CPU per request, which the suite's
 * thousands of requests add up. Sent as fetch sends it (Content-Length; Accept any type unless given);
 * redirects are answered, not followed.
 */
async function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; headers: Headers; text: string }> {
  const sent = {
    accept: '*/*',
    ...headers,
    ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}),
  };
  const { response, text } = await requestAndReadBody(url, method, sent, body);
  const received = new Headers();
  for (let i = 0; i < response.rawHeaders.length; i += 2)
    received.append(response.rawHeaders[i], response.rawHeaders[i + 1]);
  return { status: response.statusCode ?? 0, headers: received, text };
}

/** One real HTTP request, its body parsed as JSON when the server says it is JSON. */
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
  const response = await request(`${baseUrl}${pathname}`, method, headers, body);
  const isJson = response.headers.get('content-type')?.includes('application/json');
  return {
    status: response.status,
    headers: response.headers,
    body: isJson && response.text ? JSON.parse(response.text) : response.text,
  };
}

export interface GqlResponse<T = any> {
  status: number;
  headers: Headers;
  body: {
    data?: T;
    errors?: Array<{ message: string; extensions?: Record<string, any> }>;
    extensions?: Record<string, any>;
  };
}

/** POSTs a GraphQL operation over real HTTP. */
export async function gql<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GqlResponse<T>> {
  const response = await request(
    `${url}/graphql`,
    'POST',
    { 'content-type': 'application/json', ...headers },
    JSON.stringify({ query, variables }),
  );
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(response.text) as GqlResponse<T>['body'],
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const apiKeyHeader = (token: string) => ({ 'x-api-key': token });
export const jwtHeader = (token: string) => ({ 'x-jwt-token': token });
export const jwtCookie = (token: string) => ({ cookie: `jwt=${token}` });

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a connection of its own (no keep-alive pool), so that a failure is about this
 * request only: the promise rejects with the socket error (e.g. ECONNREFUSED) when there is one.
 * A header given as an array is sent once per value, as fetch cannot.
 */
export async function rawRequest(
  url: string,
  method: string,
  pathname: string,
  headers: Record<string, string | string[]> = {},
  body?: string,
): Promise<RawResponse> {
  const sent = {
    ...(body !== undefined
      ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
      : {}),
    ...headers,
  };
  const { response, text } = await requestAndReadBody(`${url}${pathname}`, method, sent, body, true);
  return { status: response.statusCode ?? 0, headers: response.headers, body: text };
}

/** A GraphQL operation over a connection of its own; see rawRequest. */
export async function rawGql(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ status: number; body: { data?: any; errors?: Array<{ message: string; extensions?: any }> } }> {
  const response = await rawRequest(
    url,
    'POST',
    '/graphql',
    { authorization: `Bearer ${token}` },
    JSON.stringify({ query, variables }),
  );
  return { status: response.status, body: JSON.parse(response.body) };
}

/** The network error code behind a failed request (fetch wraps it in `cause`). */
export function errorCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? String(error);
}

import accepts from 'accepts';
import { extractCredential } from '../auth/presented-credential';
import { ErrorCode } from '../errors/error-code';
import { sendJson, sendText } from '../http/answer';
import { BodyError, readJsonBody } from '../http/body';
import type { RouteRequest, RouteTable } from '../http/router';
import { CANCEL_PATH, CONFIRM_PATH } from '../services/email-change';
import type { RestDeps } from './endpoint';
import type { JsonSchema } from './endpoint-definition';
import { graphqlCaller, type OperationState } from './graphql-call';
import { authenticateRequest } from './credential-rule';
import { restStatusOf } from './error-table';
import { RestFailure, TransportFailure } from './rest-failure';
import { escapeHtml } from '../html';

type Action = 'confirm' | 'cancel';

const MUTATION: Record<Action, string> = {
  confirm: `mutation RestConfirmEmailChange($token: String!) {
    confirmEmailChange(token: $token) { userId email emailVerified pendingEmail version changedFields } }`,
  cancel: `mutation RestCancelEmailChange($token: String!) {
    cancelEmailChange(token: $token) { userId email emailVerified pendingEmail version changedFields } }`,
};

interface EmailChangeResult {
  userId: string;
  email: string;
  emailVerified: boolean;
  pendingEmail: string | null;
  version: number;
  changedFields: string[];
}

const DONE: Record<Action, { title: string; text: (result: EmailChangeResult) => string }> = {
  confirm: {
    title: 'Email address confirmed',
    text: (result) => `Your account's email address is now ${result.email}.`,
  },
  cancel: {
    title: 'Email change cancelled',
    text: (result) => `Your account's email address stays ${result.email}.`,
  },
};

function page(title: string, text: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body>
</html>
`;
}

/** A link takes any credential of ours, in any place (it needs none). */
const CHALLENGE = 'Bearer realm="users-api"';

/** The link's token must not travel further (Referer), nor the page be kept by a cache (JSON: the first only). */
const HEADERS: Array<[string, string]> = [
  ['cache-control', 'no-store'],
  ['referrer-policy', 'no-referrer'],
  ['content-security-policy', "default-src 'none'; style-src 'unsafe-inline'"],
];

async function tokenOf({ req, res, search }: RouteRequest, limit: number): Promise<string> {
  let tokens = new URLSearchParams(search).getAll('token');
  // A POST's body is read and checked whenever it has one, a token in the query string or not.
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  if (req.method === 'POST' && (tokens.length === 0 || hasBody)) {
    let body: unknown;
    try {
      body = await readJsonBody(req, res, { limit, mediaTypes: ['application/json'] });
    } catch (error) {
      throw error instanceof BodyError ? RestFailure.body(error) : error;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw RestFailure.badInput([
        { field: 'body', message: 'The body must be a JSON object: { "token": … }' },
      ]);
    const unknown = Object.keys(body).filter((name) => name !== 'token');
    if (unknown.length > 0)
      throw RestFailure.badInput(
        unknown.map((name) => ({
          field: name,
          message: `${name} is not a field of this request; send only token`,
        })),
      );
    const token = (body as Record<string, unknown>).token;
    tokens = [...tokens, ...(typeof token === 'string' ? [token] : [])];
  }
  if (tokens.length !== 1) {
    throw RestFailure.badInput(
      [{ field: 'token', message: 'token is required, once: the token of the link in the message' }],
      'The token of the link is missing',
    );
  }
  return tokens[0];
}

/**
 * One link: the token from the query (GET, as a mail program opens it) or from a JSON body (POST), a
 * credential optional (one sent must be the same user's), mapped onto the mutation. People (Accept:
 * text/html) get a short page, API clients JSON.
 */
function linkHandler(action: Action, deps: RestDeps) {
  return async (request: RouteRequest): Promise<void> => {
    const { req, res, requestId } = request;
    const html = accepts(req).type(['json', 'html']) === 'html';
    if (req.method === 'HEAD') {
      // HEAD is safe (RFC 9110 §9.2.1), and link checkers and mail scanners send it: nothing is applied.
      const type = html ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8';
      res.writeHead(200, [['content-type', type], ...(html ? HEADERS : HEADERS.slice(0, 1))].flat());
      res.end();
      return;
    }
    // What the mutation's answer carries for the response (the write budget's RateLimit-* headers).
    const state: OperationState = { headers: {} };
    try {
      const token = await tokenOf(request, deps.bodyLimitBytes);
      const ctx = await authenticateRequest(req, extractCredential(req), deps.authenticator, requestId);
      const graphql = graphqlCaller(deps.apollo, ctx, (error) => deps.logError(error, requestId), state);
      const data = await graphql<Record<string, EmailChangeResult>>(MUTATION[action], { token });
      const result = Object.values(data)[0];
      if (html) {
        sendText(
          res,
          200,
          'text/html; charset=utf-8',
          page(DONE[action].title, DONE[action].text(result)),
          HEADERS,
        );
        return;
      }
      res.setHeader('cache-control', 'no-store');
      sendJson(res, 200, {
        user_id: result.userId,
        email: result.email,
        email_verified: result.emailVerified,
        pending_email: result.pendingEmail,
        version: result.version,
        changed_fields: result.changedFields,
      });
    } catch (error) {
      if (error instanceof RestFailure) return sendFailure(request, error, state.headers);
      deps.logError(error, requestId);
      sendFailure(request, new RestFailure(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
    }
  };
}

/** A refusal as a page for people (Accept: text/html), else as `{ error: { code, message, fields } }`. */
function sendFailure(
  { req, res }: RouteRequest,
  failure: RestFailure,
  budget: Record<string, string> = {},
): void {
  const status = restStatusOf(failure.kind);
  // Retry-After and RateLimit-* with a 429, as every endpoint sends them (the budget's from the mutation).
  const headers = status === 429 ? { ...budget, ...failure.headers } : failure.headers;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (status === 401) res.setHeader('www-authenticate', CHALLENGE);
  if (accepts(req).type(['json', 'html']) === 'html') {
    const why = failure.fields.map((field) => field.message).join(' ') || failure.message;
    sendText(res, status, 'text/html; charset=utf-8', page(failure.message, why), HEADERS);
    return;
  }
  res.setHeader('cache-control', 'no-store');
  sendJson(res, status, { error: { code: failure.kind, message: failure.message, fields: failure.fields } });
}

/** The links of email change messages, on the route table; another method gets 405 in the links' error shape. */
export function addEmailChangeRoutes(table: RouteTable, deps: RestDeps): void {
  for (const [path, action] of [
    [CONFIRM_PATH, 'confirm'],
    [CANCEL_PATH, 'cancel'],
  ] as const) {
    table.add(path, {
      methods: { GET: linkHandler(action, deps), POST: linkHandler(action, deps) },
      methodNotAllowed: (request, allow) => {
        request.res.setHeader('Allow', allow);
        const message = `${request.req.method} is not allowed here; use ${allow}`;
        sendFailure(request, new RestFailure(TransportFailure.METHOD_NOT_ALLOWED, message));
      },
    });
  }
}

const resultSchema: JsonSchema = {
  type: 'object',
  required: ['user_id', 'email', 'email_verified', 'pending_email', 'version', 'changed_fields'],
  properties: {
    user_id: { type: 'string' },
    email: { type: 'string', description: 'The address in use now' },
    email_verified: { type: 'boolean' },
    pending_email: { type: ['string', 'null'] },
    version: { type: 'integer' },
    changed_fields: { type: 'array', items: { type: 'string' } },
  },
};

const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'fields'],
      properties: {
        code: {
          type: 'string',
          enum: [
            ...Object.values(ErrorCode),
            TransportFailure.UNSUPPORTED_MEDIA_TYPE,
            TransportFailure.PAYLOAD_TOO_LARGE,
            TransportFailure.METHOD_NOT_ALLOWED,
          ],
        },
        message: { type: 'string' },
        fields: {
          type: 'array',
          items: {
            type: 'object',
            required: ['field', 'message'],
            properties: { field: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
    },
  },
};

function operation(action: Action, method: 'get' | 'post') {
  const what = action === 'confirm' ? 'Confirm' : 'Cancel';
  const answers = {
    content: {
      'application/json': { schema: { $ref: '#/components/schemas/EmailChangeResult' } },
      'text/html': { schema: { type: 'string' } },
    },
  };
  const headers = (status: number) => ({
    'X-Request-Id': { $ref: '#/components/headers/X-Request-Id' },
    'Cache-Control': { description: 'Not to be stored', schema: { type: 'string', enum: ['no-store'] } },
    'Referrer-Policy': {
      description: 'With the HTML page: the link’s token goes nowhere further',
      schema: { type: 'string', enum: ['no-referrer'] },
    },
    'Content-Security-Policy': {
      description: 'With the HTML page: it loads nothing',
      schema: { type: 'string' },
    },
    ...(status === 401
      ? { 'WWW-Authenticate': { schema: { type: 'string', enum: [CHALLENGE] } } }
      : status === 429
        ? Object.fromEntries(
            ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'].map((name) => [
              name,
              { $ref: `#/components/headers/${name}` },
            ]),
          )
        : {}),
  });
  const failure = (status: number, description: string) => ({
    description,
    headers: headers(status),
    content: {
      'application/json': { schema: { $ref: '#/components/schemas/EmailChangeError' } },
      'text/html': { schema: { type: 'string' } },
    },
  });
  return {
    tags: ['email-change'],
    operationId: `${action}EmailChange${method === 'get' ? 'Link' : ''}`,
    summary:
      method === 'get'
        ? `${what} a pending email change: the link of the message (token in the query)`
        : `${what} a pending email change, the token in a JSON body`,
    security: [{}],
    ...(method === 'get'
      ? {
          parameters: [
            {
              name: 'token',
              in: 'query',
              required: true,
              schema: { type: 'string' },
              description: 'The link’s token',
            },
          ],
        }
      : {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['token'],
                  properties: { token: { type: 'string' } },
                  additionalProperties: false,
                },
              },
            },
          },
        }),
    responses: {
      200: {
        description: `${what}ed: an HTML page for Accept: text/html, JSON otherwise (HEAD: the headers only, nothing ${what.toLowerCase()}ed)`,
        headers: headers(200),
        ...answers,
      },
      400: failure(
        400,
        'The token is missing, not valid (used, cancelled, replaced by a newer change) or expired',
      ),
      401: failure(401, 'A credential was sent and is not valid'),
      403: failure(403, 'A credential was sent and it is another user’s'),
      409: failure(409, 'Confirm: another user of the organization took the address meanwhile'),
      ...(method === 'post'
        ? {
            413: failure(413, 'The body is larger than BODY_LIMIT_BYTES'),
            415: failure(415, 'The body is not application/json'),
          }
        : {}),
      429: failure(
        429,
        'Too many failed authentications from this address, or the write budget of the credential sent is spent',
      ),
      500: failure(500, 'The server failed'),
    },
  };
}

/** What the OpenAPI document says of the links (openApiDocument merges it). */
export const EMAIL_CHANGE_OPENAPI = {
  tag: {
    name: 'email-change',
    description:
      'The links of the messages a change of one’s own email sends: confirm (to the new address) and cancel (to the old one)',
  },
  paths: Object.fromEntries(
    (['confirm', 'cancel'] as const).map((action) => [
      action === 'confirm' ? CONFIRM_PATH : CANCEL_PATH,
      {
        description:
          'GET (also HEAD: the headers only, nothing applied) is the link as the message has it; POST takes the ' +
          'token in a JSON body. OPTIONS answers 204 with `Allow: GET, HEAD, POST, OPTIONS`; any other method is ' +
          'answered 405 with that Allow header and the links’ error body (EmailChangeError).',
        get: operation(action, 'get'),
        post: operation(action, 'post'),
      },
    ]),
  ),
  schemas: { EmailChangeResult: resultSchema, EmailChangeError: errorSchema } as Record<string, JsonSchema>,
};

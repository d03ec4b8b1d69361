import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import typeis from 'type-is';

/** Why a body was not taken, in HTTP terms. */
export type BodyRefusal =
  /** No body at all (no Content-Type, no length). */
  | 'missing'
  /** A Content-Type that is not one of those taken. */
  | 'media-type'
  /** A charset or content coding the server does not read. */
  | 'unsupported'
  | 'too-large'
  /** Not JSON, or the stream broke. */
  | 'malformed';

export class BodyError extends Error {
  constructor(
    readonly refusal: BodyRefusal,
    message: string,
  ) {
    super(message);
  }
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;
const PLAIN_JSON = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * The deepest nesting a body may have. No request here nests more than a few levels, and code that
 * walks a value recursively (JSON.stringify, GraphQL's coercion) would overflow the stack on a deeper one.
 */
const MAX_NESTING = 64;

function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[object, number]> = typeof value === 'object' && value !== null ? [[value, 1]] : [];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(node))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** The body's length when it is plain JSON in UTF-8 with a Content-Length and no coding; else undefined. */
function plainJsonLength(req: IncomingMessage): number | undefined {
  const { headers } = req;
  const type = headers['content-type'];
  if (type === undefined || !PLAIN_JSON.test(type)) return undefined;
  if (headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined)
    return undefined;
  const length = Number(headers['content-length']);
  return Number.isInteger(length) && length > 0 ? length : undefined;
}

function readPlain(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () =>
      resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
    );
    req.once('error', reject);
    req.once('aborted', () => reject(new BodyError('malformed', 'The request was aborted')));
  });
}

const parsers = new Map<string, ReturnType<typeof bodyParser.text>>();

/** body-parser's reader for everything else: charsets, gzip/deflate/br, chunked bodies, the limit. */
function decodedText(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string> {
  const key = String(limit);
  let parser = parsers.get(key);
  if (!parser) {
    parser = bodyParser.text({ type: () => true, limit, defaultCharset: 'utf-8' });
    parsers.set(key, parser);
  }
  const request = req as IncomingMessage & { body?: unknown };
  return new Promise((resolve, reject) => {
    parser(request as never, res as never, (error?: { status?: number; type?: string; message?: string }) => {
      if (!error) return resolve(typeof request.body === 'string' ? request.body : '');
      if (error.status === 413) {
        reject(new BodyError('too-large', `Request body is larger than ${limit} bytes`));
      } else if (error.type === 'encoding.unsupported') {
        const coding = String(req.headers['content-encoding']);
        reject(
          new BodyError(
            'unsupported',
            `Content-Encoding "${coding}" is not supported: send gzip, deflate, br or none`,
          ),
        );
      } else if (error.status === 415) {
        reject(new BodyError('unsupported', error.message ?? 'Unsupported request body'));
      } else if (typeof error.status === 'number' && error.status < 500) {
        reject(new BodyError('malformed', 'Request body could not be read'));
      } else {
        reject(error);
      }
    });
  });
}

export interface JsonBodyOptions {
  limit: number;
  /** Media types taken (`application/json`, `application/merge-patch+json`). */
  mediaTypes: readonly string[];
}

/**
 * Reads a request body as JSON, the one place the server does: plain UTF-8 JSON with a Content-Length
 * is read directly; anything else (a charset, a content coding, a chunked body) through body-parser.
 * A byte-order mark is ignored; a body nesting deeper than MAX_NESTING is refused. Refusals are
 * BodyErrors; the caller answers them in its own shape.
 */
export async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  options: JsonBodyOptions,
): Promise<unknown> {
  const length = plainJsonLength(req);
  let text: string;
  if (length !== undefined && options.mediaTypes.includes('application/json')) {
    if (length > options.limit) {
      req.resume();
      throw new BodyError('too-large', `Request body is larger than ${options.limit} bytes`);
    }
    text = await readPlain(req);
  } else {
    const type = typeis(req, [...options.mediaTypes]);
    if (type === null) throw new BodyError('missing', 'Request body is required: send a JSON object');
    if (type === false)
      throw new BodyError('media-type', `Content-Type must be ${options.mediaTypes.join(' or ')}`);
    const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1].toLowerCase();
    // JSON exchanged between systems is UTF-8 (RFC 8259 §8.1): a body declared in another charset
    // (UTF-7 would slip past anything that looks for { or ") is refused, not decoded.
    if (charset !== undefined && charset !== 'utf-8') {
      throw new BodyError('unsupported', `Unsupported charset "${charset.toUpperCase()}": send UTF-8`);
    }
    text = await decodedText(req, res, options.limit);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new BodyError('missing', 'Request body is required: send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BodyError('malformed', `Malformed JSON in request body: ${(error as Error).message}`);
  }
  if (nestsDeeperThan(value, MAX_NESTING))
    throw new BodyError('malformed', `The request body nests deeper than ${MAX_NESTING} levels`);
  return value;
}

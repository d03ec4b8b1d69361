import type { ServerResponse } from 'node:http';

/** Writes a complete answer with its length. */
export function sendText(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string | Buffer,
  headers: Iterable<[string, string]> = [],
): void {
  for (const [name, value] of headers) res.setHeader(name, value);
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/** A JSON answer: `text` is the serialised body. */
export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Iterable<[string, string]> = [],
): void {
  sendText(res, status, 'application/json; charset=utf-8', text, headers);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendJsonText(res, status, JSON.stringify(value));
}

/** A redirect with a short plain-text body naming the target. */
export function redirect(res: ServerResponse, status: 301 | 302 | 303 | 307 | 308, location: string): void {
  res.setHeader('location', location);
  sendText(res, status, 'text/plain; charset=utf-8', `Redirecting to ${location}\n`);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import typeis from 'type-is';
import { ErrorCode } from '../errors/error-code';
import { RestFailure, TransportFailure } from './rest-failure';

export type JsonObject = Record<string, unknown>;

const parsers = new Map<number, express.RequestHandler>();

function rawParser(limit: number): express.RequestHandler {
  let parser = parsers.get(limit);
  if (!parser) {
    parser = express.raw({ type: () => true, limit });
    parsers.set(limit, parser);
  }
  return parser;
}

/**
 * Reads the request body as one JSON object, refusing in the endpoint's terms: 415 for another media
 * type, 413 over `limit` bytes, 400 for a missing body, malformed JSON or anything but an object.
 */
export async function readJsonObject(
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  limit: number,
  mediaTypes: readonly string[],
): Promise<JsonObject> {
  const type = typeis(req, [...mediaTypes]);
  if (type === null) throw RestFailure.badInput([], 'Request body is required: send a JSON object');
  if (type === false) {
    throw new RestFailure(
      TransportFailure.UNSUPPORTED_MEDIA_TYPE,
      `Content-Type must be ${mediaTypes.join(' or ')}`,
    );
  }
  const buffer = await new Promise<unknown>((resolve, reject) => {
    // body-parser works on plain node:http objects; Express's types say otherwise.
    rawParser(limit)(req as express.Request, res as express.Response, (error?: unknown) =>
      error ? reject(error) : resolve(req.body),
    );
  }).catch((error: { status?: number; type?: string }) => {
    if (error?.status === 413) {
      throw new RestFailure(TransportFailure.PAYLOAD_TOO_LARGE, `Request body is larger than ${limit} bytes`);
    }
    if (typeof error?.status === 'number' && error.status < 500) {
      throw RestFailure.badInput([], 'Request body could not be read');
    }
    throw error;
  });
  const text = Buffer.isBuffer(buffer) ? buffer.toString('utf8') : '';
  if (text.trim() === '') throw RestFailure.badInput([], 'Request body is required: send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw RestFailure.badInput([], `Malformed JSON in request body: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RestFailure(ErrorCode.BAD_USER_INPUT, 'Request body must be a JSON object');
  }
  return value as JsonObject;
}

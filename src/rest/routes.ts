import crypto from 'node:crypto';
import { sendJson, sendJsonText } from '../http/answer';
import type { RouteTable } from '../http/router';
import { addEmailChangeRoutes, EMAIL_CHANGE_OPENAPI } from './email-change.routes';
import { matchesTag, noneMatchesTag } from './if-match';
import { addEndpointRoutes, type RestDeps } from './endpoint';
import { openApiDocument } from './openapi';
import { patchMe } from './patch-me.route';
import { patchUserApiV1 } from './patch-user-api-v1.route';
import { patchUserV1 } from './patch-user-v1.route';
import { postUserByNumericId } from './post-user-by-numeric-id.route';
import { putCurrentUser } from './put-current-user.route';

export type { RestDeps } from './endpoint';

/** The documented endpoints; `/v1/users/me` (001) is a fixed path, so it is matched before 002's `/v1/users/:user_id`. */
export const ENDPOINTS = [putCurrentUser, patchMe, patchUserV1, postUserByNumericId, patchUserApiV1] as const;

/**
 * The REST shim on the route table: the five documented endpoints with their GET counterparts, the
 * links of email change messages, and GET /openapi.json, generated from their definitions.
 */
export function addRestRoutes(table: RouteTable, deps: RestDeps): void {
  addEndpointRoutes(table, ENDPOINTS, deps);
  addEmailChangeRoutes(table, deps);
  const text = JSON.stringify(openApiDocument(ENDPOINTS, EMAIL_CHANGE_OPENAPI));
  const etag = `"${crypto.createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;
  table.add('/openapi.json', {
    methods: {
      GET: ({ req, res }) => {
        res.setHeader('etag', etag);
        // RFC 9110 §13.2.2: If-Match first (412), then If-None-Match (304).
        if (!matchesTag(req.headers['if-match'], etag)) {
          sendJson(res, 412, {
            error: 'precondition_failed',
            message: 'If-Match does not name the current ETag of this document',
          });
          return;
        }
        if (noneMatchesTag(req.headers['if-none-match'], etag)) {
          res.statusCode = 304;
          res.end();
          return;
        }
        sendJsonText(res, 200, text);
      },
    },
  });
}

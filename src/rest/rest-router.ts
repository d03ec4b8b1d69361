import { Router } from 'express';
import type { HotRoute } from '../http/hot-lane';
import { hotRoute, malformedPathHandler, mountEndpoint, type RestDeps } from './endpoint';
import { openApiDocument } from './openapi-document';
import { patchMe } from './patch-me.route';
import { patchUserApiV1 } from './patch-user-api-v1.route';
import { patchUserV1 } from './patch-user-v1.route';
import { postUserByNumericId } from './post-user-by-numeric-id.route';
import { putCurrentUser } from './put-current-user.route';

export type { RestDeps } from './endpoint';

/** The documented endpoints in mounting order: 001's `/v1/users/me` before 002's `/v1/users/{user_id}`. */
export const ENDPOINTS = [putCurrentUser, patchMe, patchUserV1, postUserByNumericId, patchUserApiV1] as const;

/** The REST shim: the five documented endpoints with their GET counterparts, and GET /openapi.json. */
export function createRestRouter(deps: RestDeps): Router {
  const router = Router({ caseSensitive: true, strict: false });
  for (const endpoint of ENDPOINTS) mountEndpoint(router, endpoint, deps);
  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  router.use(malformedPathHandler(ENDPOINTS));
  return router;
}

/** The endpoints' writes with plain JSON bodies, for the hot lane in front of the router. */
export function createRestHotRoute(deps: RestDeps): HotRoute {
  return hotRoute(ENDPOINTS, deps);
}

/**
 * The webhook delivery queue's statements in PostgreSQL's dialect. 'pending' and `true` are written
 * into the text, not bound: the partial indexes on pending (and ready) deliveries are used only when a
 * statement names their condition, which a bound value would not do in a generic plan.
 */

/** Whether endpoint `w` takes events of `e`'s type (an empty list takes every type). */
const takes = (e: string) => `(w."event_types" = '[]' OR w."event_types"::jsonb ? ${e}."type")`;

const PENDING_IN_LINE = `SELECT 1 FROM "webhook_deliveries" p WHERE p."endpoint_id" = w."id" AND p."user_id" = e."user_id" AND p."state" = 'pending'`;

/** Deliveries of events `e` (and endpoints `w`) chosen by `from`, at the end of their lines; $1 now. */
const queue = (from: string, earlierInSet: string) =>
  `INSERT INTO "webhook_deliveries" ("id", "endpoint_id", "event_seq", "event_id", "user_id", "state", "attempts", "next_attempt_at", "created_at", "ready") ` +
  `SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), w."id", e."seq", e."id", e."user_id", 'pending', 0, $1, $1, ` +
  `NOT EXISTS (${PENDING_IN_LINE}) AND NOT EXISTS (SELECT 1 FROM "user_events" x WHERE x."user_id" = e."user_id" AND x."seq" < e."seq" AND ${earlierInSet} AND ${takes('x')}) ` +
  `${from} ORDER BY e."seq"`;

/** The oldest undispatched events, at most `limit` (a parameter) of them. */
const batch = (limit: string) =>
  `SELECT "seq" FROM "user_events" WHERE "dispatched" = false ORDER BY "seq" LIMIT ${limit}`;

const settlements = `jsonb_array_elements($1::jsonb) s`;

export const deliveryStatements = {
  // Queueing and settling one at a time across processes: a line is judged on what has committed.
  lockLines: `SELECT pg_advisory_xact_lock($1)`,
  // $1 now, $2 how many events. An undispatched event older than one of the batch is in the batch.
  dispatch: `WITH "queued" AS (${queue(
    `FROM "user_events" e JOIN "webhook_endpoints" w ON w."organization_id" = e."organization_id" AND w."enabled" = true AND ${takes('e')} WHERE e."seq" IN (${batch('$2')})`,
    `x."dispatched" = false`,
  )}) UPDATE "user_events" SET "dispatched" = true WHERE "seq" IN (${batch('$2')}) RETURNING "seq"`,
  // $2 the endpoint, $3 since.
  replay:
    queue(
      `FROM "user_events" e JOIN "webhook_endpoints" w ON w."id" = $2 AND w."organization_id" = e."organization_id" AND ${takes('e')} WHERE e."occurred_at" >= $3`,
      `x."organization_id" = w."organization_id" AND x."occurred_at" >= $3`,
    ) + ` RETURNING "seq"`,
  // $1 owner, $2 now, $3 until, $4 how many.
  lease:
    `UPDATE "webhook_deliveries" SET "lease_until" = $3, "lease_owner" = $1, "attempts" = "attempts" + 1 ` +
    `WHERE "seq" IN (SELECT d."seq" FROM "webhook_deliveries" d JOIN "webhook_endpoints" w ON w."id" = d."endpoint_id" AND w."enabled" = true ` +
    `WHERE d."state" = 'pending' AND d."ready" = true AND d."next_attempt_at" <= $2 AND (d."lease_until" IS NULL OR d."lease_until" < $2) ` +
    `ORDER BY d."next_attempt_at" LIMIT $4 FOR UPDATE OF d SKIP LOCKED) ` +
    `RETURNING "id", "endpoint_id", "event_seq", "event_id", "user_id", "attempts", "created_at"`,
  // $1 the settlements as a JSON array, $2 when.
  settle:
    `UPDATE "webhook_deliveries" d SET "state" = s."state", "last_status" = s."status", "last_error" = s."error", ` +
    `"next_attempt_at" = coalesce(s."nextAttemptAt", d."next_attempt_at"), ` +
    `"delivered_at" = CASE WHEN s."state" = 'delivered' THEN $2 ELSE d."delivered_at" END, ` +
    `"ready" = (s."state" = 'pending'), "lease_until" = NULL, "lease_owner" = NULL ` +
    `FROM jsonb_to_recordset($1::jsonb) AS s("id" text, "state" text, "status" int, "error" text, "nextAttemptAt" text) WHERE d."id" = s."id"`,
  // The next of each line whose first is done (a line's deliveries after its first are never ready).
  readyNext:
    `UPDATE "webhook_deliveries" d SET "ready" = true WHERE d."state" = 'pending' AND d."ready" = false ` +
    `AND d."endpoint_id" IN (SELECT s ->> 'endpointId' FROM ${settlements}) AND d."user_id" IN (SELECT s ->> 'userId' FROM ${settlements}) ` +
    `AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p WHERE p."endpoint_id" = d."endpoint_id" ` +
    `AND p."user_id" = d."user_id" AND p."state" = 'pending' AND p."event_seq" < d."event_seq")`,
  lastSuccess: `UPDATE "webhook_endpoints" SET "last_success_at" = $2 WHERE "id" IN (SELECT s ->> 'endpointId' FROM ${settlements} WHERE s ->> 'state' = 'delivered')`,
};

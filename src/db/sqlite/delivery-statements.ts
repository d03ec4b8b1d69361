/**
 * The webhook delivery queue's statements in SQLite's dialect. 'pending' and `true` are written into
 * the text, not bound: the partial indexes on pending (and ready) deliveries are used only when a
 * statement names their condition.
 */

/** What the sender reads of a delivery it leased. */
const LEASED = `"id", "endpoint_id", "event_seq", "event_id", "user_id", "attempts", "created_at"`;

/** Whether endpoint `w` takes events of `e`'s type (an empty list takes every type). */
const takes = (e: string) =>
  `(w."event_types" = '[]' OR EXISTS (SELECT 1 FROM json_each(w."event_types") t WHERE t."value" = ${e}."type"))`;

/**
 * Deliveries of the events `e` to the endpoints `w` that `from` joins, at the end of their lines: ready
 * when first of the set in their line and the line has nothing pending; ?1 now. Those ready are leased
 * at once until ?3 (when given), an attempt counted.
 */
const queue = (from: string) =>
  `WITH "q" AS MATERIALIZED (SELECT w."id" AS "endpoint_id", e."seq", e."id", e."user_id", ` +
  `row_number() OVER (PARTITION BY w."id", e."user_id" ORDER BY e."seq") = 1 AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p ` +
  `WHERE p."endpoint_id" = w."id" AND p."user_id" = e."user_id" AND p."state" = 'pending') AS "ready" ${from}) ` +
  `INSERT INTO "webhook_deliveries" ("id", "endpoint_id", "event_seq", "event_id", "user_id", "state", "attempts", "next_attempt_at", "lease_until", "created_at", "ready") ` +
  `SELECT 'whd_' || lower(hex(randomblob(16))), q."endpoint_id", q."seq", q."id", q."user_id", 'pending', ` +
  `q."ready" AND ?3 IS NOT NULL, ?1, CASE WHEN q."ready" THEN ?3 END, ?1, q."ready" ` +
  `FROM "q" ORDER BY q."seq" RETURNING "ready", ${LEASED}`;

/** The oldest undispatched events, at most `limit` (a parameter) of them. */
const batch = (limit: string) =>
  `SELECT "seq" FROM "user_events" WHERE "dispatched" = false ORDER BY "seq" LIMIT ${limit}`;

export const deliveryStatements = {
  // ?1 now, ?2 how many events (the oldest undispatched), ?3 until. An endpoint gets the events of
  // changes made after it was created, however late they are dispatched.
  dispatch: queue(
    `FROM "user_events" e JOIN "webhook_endpoints" w ON w."organization_id" = e."organization_id" AND w."enabled" = true ` +
      `AND w."created_at" <= e."occurred_at" AND ${takes('e')} WHERE e."seq" IN (${batch('?2')})`,
  ),
  markDispatched: `UPDATE "user_events" SET "dispatched" = true WHERE "seq" IN (${batch('?1')})`,
  // ?2 the endpoint, ?4 since (?3 null: the sender leases them).
  replay: queue(
    `FROM "user_events" e JOIN "webhook_endpoints" w ON w."id" = ?2 AND w."organization_id" = e."organization_id" AND ${takes('e')} WHERE e."occurred_at" >= ?4`,
  ),
  // ?1 the deliveries' ids as a JSON array, ?2 until.
  extendLeases: `UPDATE "webhook_deliveries" SET "lease_until" = ?2 WHERE "id" IN (SELECT "value" FROM json_each(?1)) AND "state" = 'pending'`,
  // ?1 now, ?2 until, ?3 how many.
  lease:
    `UPDATE "webhook_deliveries" SET "lease_until" = ?2, "attempts" = "attempts" + 1 ` +
    `WHERE "seq" IN (SELECT d."seq" FROM "webhook_deliveries" d JOIN "webhook_endpoints" w ON w."id" = d."endpoint_id" AND w."enabled" = true ` +
    `WHERE d."state" = 'pending' AND d."ready" = true AND d."next_attempt_at" <= ?1 AND (d."lease_until" IS NULL OR d."lease_until" < ?1) ` +
    `ORDER BY d."next_attempt_at" LIMIT ?3) ` +
    `RETURNING ${LEASED}`,
  // ?1 the settlements as a JSON array, ?2 when.
  settle:
    `UPDATE "webhook_deliveries" SET "state" = s."value" ->> 'state', "last_status" = s."value" ->> 'status', ` +
    `"last_error" = s."value" ->> 'error', "next_attempt_at" = coalesce(s."value" ->> 'nextAttemptAt', "next_attempt_at"), ` +
    `"delivered_at" = CASE WHEN s."value" ->> 'state' = 'delivered' THEN ?2 ELSE "delivered_at" END, ` +
    `"ready" = (s."value" ->> 'state' = 'pending'), "lease_until" = NULL ` +
    `FROM json_each(?1) s WHERE "webhook_deliveries"."id" = s."value" ->> 'id' ` +
    // Only while the lease is the settling one's (see the PostgreSQL statement).
    `AND "webhook_deliveries"."attempts" = s."value" ->> 'attempts' AND "webhook_deliveries"."state" = 'pending'`,
  // The next of each line whose first is done (a line's deliveries after its first are never ready).
  readyNext:
    `UPDATE "webhook_deliveries" SET "ready" = true WHERE "state" = 'pending' AND "ready" = false ` +
    `AND "endpoint_id" IN (SELECT s."value" ->> 'endpointId' FROM json_each(?1) s) AND "user_id" IN (SELECT s."value" ->> 'userId' FROM json_each(?1) s) ` +
    `AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p WHERE p."endpoint_id" = "webhook_deliveries"."endpoint_id" ` +
    `AND p."user_id" = "webhook_deliveries"."user_id" AND p."state" = 'pending' AND p."event_seq" < "webhook_deliveries"."event_seq")`,
  lastSuccess: `UPDATE "webhook_endpoints" SET "last_success_at" = ?2 WHERE "id" IN (SELECT s."value" ->> 'endpointId' FROM json_each(?1) s WHERE s."value" ->> 'state' = 'delivered')`,
};

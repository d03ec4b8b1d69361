/**
 * The webhook delivery queue's statements in PostgreSQL's dialect. 'pending' and `true` are written
 * into the text, not bound: the partial indexes on pending (and ready) deliveries are used only when a
 * statement names their condition, which a bound value would not do in a generic plan.
 */

/** What the sender reads of a delivery it leased. */
const LEASED = `"id", "endpoint_id", "event_seq", "event_id", "user_id", "attempts", "created_at"`;

/** Whether endpoint `w` takes events of `e`'s type (an empty list takes every type). */
const takes = (e: string) => `(w."event_types" = '[]' OR w."event_types"::jsonb ? ${e}."type")`;

/**
 * Deliveries of the events in "ev" to the endpoints `w` that take them, at the end of their lines:
 * ready when first of the set in their line and the line has nothing pending ("busy"); $1 now. Those
 * ready are leased at once until $3 (when given), an attempt counted. "busy" locks the last
 * pending delivery of each line (FOR SHARE): a settling that finishes it waits for this statement's
 * transaction, and readies what this one queued behind it; one that finished it first is waited for,
 * and the line is then judged on its outcome.
 */
const queue = (endpoints: string) =>
  `"lines" AS (SELECT DISTINCT w."id" AS "endpoint_id", e."user_id" FROM "ev" e JOIN "webhook_endpoints" w ON ${endpoints}), ` +
  `"busy" AS (SELECT l."endpoint_id", l."user_id" FROM "lines" l, LATERAL (SELECT 1 FROM "webhook_deliveries" p ` +
  `WHERE p."endpoint_id" = l."endpoint_id" AND p."user_id" = l."user_id" AND p."state" = 'pending' ORDER BY p."event_seq" DESC LIMIT 1 FOR SHARE) "last"), ` +
  `"q" AS MATERIALIZED (SELECT w."id" AS "endpoint_id", e."seq", e."id", e."user_id", ` +
  `row_number() OVER (PARTITION BY w."id", e."user_id" ORDER BY e."seq") = 1 ` +
  `AND NOT EXISTS (SELECT 1 FROM "busy" b WHERE b."endpoint_id" = w."id" AND b."user_id" = e."user_id") AS "ready" ` +
  `FROM "ev" e JOIN "webhook_endpoints" w ON ${endpoints}), ` +
  `"queued" AS (INSERT INTO "webhook_deliveries" ("id", "endpoint_id", "event_seq", "event_id", "user_id", "state", "attempts", "next_attempt_at", "lease_until", "created_at", "ready") ` +
  `SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), q."endpoint_id", q."seq", q."id", q."user_id", 'pending', ` +
  `CASE WHEN q."ready" AND $3::text IS NOT NULL THEN 1 ELSE 0 END, $1, CASE WHEN q."ready" THEN $3::text END, $1, q."ready" ` +
  `FROM "q" ORDER BY q."seq" RETURNING "ready", ${LEASED})`;

/** The oldest undispatched events, at most `limit` (a parameter) of them. */
const batch = (limit: string) =>
  `SELECT "seq" FROM "user_events" WHERE "dispatched" = false ORDER BY "seq" LIMIT ${limit}`;

/** What queueing reads of an event. */
const EVENT = `e."seq", e."id", e."type", e."organization_id", e."user_id", e."occurred_at"`;

const settlements = `jsonb_array_elements($1::jsonb) s`;

export const deliveryStatements = {
  // Queueing one set at a time across processes: each set's lines are judged on the ones before.
  lockLines: `SELECT pg_advisory_xact_lock($1)`,
  // $1 now, $2 how many events (the oldest undispatched), $3 until. An endpoint gets the events of
  // changes made after it was created, however late they are dispatched.
  dispatch:
    `WITH "ev" AS (SELECT ${EVENT} FROM "user_events" e WHERE e."seq" IN (${batch('$2')})), ` +
    queue(
      `w."organization_id" = e."organization_id" AND w."enabled" = true AND w."created_at" <= e."occurred_at" AND ${takes('e')}`,
    ) +
    `, "marked" AS (UPDATE "user_events" SET "dispatched" = true WHERE "seq" IN (SELECT "seq" FROM "ev") RETURNING 1) ` +
    `SELECT * FROM "queued"`,
  // $2 the endpoint, $4 since ($3 null: the sender leases them).
  replay:
    `WITH "ev" AS (SELECT ${EVENT} FROM "user_events" e JOIN "webhook_endpoints" w ON w."id" = $2 AND w."organization_id" = e."organization_id" WHERE e."occurred_at" >= $4), ` +
    queue(`w."id" = $2 AND ${takes('e')}`) +
    ` SELECT 1 FROM "queued"`,
  // $1 the deliveries' ids, $2 until.
  extendLeases: `UPDATE "webhook_deliveries" SET "lease_until" = $2 WHERE "id" = ANY($1) AND "state" = 'pending'`,
  // $1 now, $2 until, $3 how many.
  lease:
    `UPDATE "webhook_deliveries" SET "lease_until" = $2, "attempts" = "attempts" + 1 ` +
    `WHERE "seq" IN (SELECT d."seq" FROM "webhook_deliveries" d JOIN "webhook_endpoints" w ON w."id" = d."endpoint_id" AND w."enabled" = true ` +
    `WHERE d."state" = 'pending' AND d."ready" = true AND d."next_attempt_at" <= $1 AND (d."lease_until" IS NULL OR d."lease_until" < $1) ` +
    `ORDER BY d."next_attempt_at" LIMIT $3 FOR UPDATE OF d SKIP LOCKED) ` +
    `RETURNING ${LEASED}`,
  // $1 the settlements as a JSON array, $2 when; the endpoints that delivered note it.
  // Only while the lease is the settling one's (its attempts): a process that stalled past its lease
  // must not undo what the one that took the delivery over recorded.
  settle:
    `WITH "s" AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS s("id" text, "attempts" int, "endpointId" text, "state" text, "status" int, "error" text, "nextAttemptAt" text)), ` +
    `"e" AS (UPDATE "webhook_endpoints" SET "last_success_at" = $2 WHERE "id" IN (SELECT "endpointId" FROM "s" WHERE "state" = 'delivered') RETURNING 1) ` +
    `UPDATE "webhook_deliveries" d SET "state" = s."state", "last_status" = s."status", "last_error" = s."error", ` +
    `"next_attempt_at" = coalesce(s."nextAttemptAt", d."next_attempt_at"), ` +
    `"delivered_at" = CASE WHEN s."state" = 'delivered' THEN $2 ELSE d."delivered_at" END, ` +
    `"ready" = (s."state" = 'pending'), "lease_until" = NULL FROM "s" ` +
    `WHERE d."id" = s."id" AND d."attempts" = s."attempts" AND d."state" = 'pending'`,
  // After settle, in its transaction (a statement of its own, so that it sees what queueing committed
  // while settle waited for it): the next of each line whose first is done.
  readyNext:
    `UPDATE "webhook_deliveries" d SET "ready" = true WHERE d."state" = 'pending' AND d."ready" = false ` +
    `AND d."endpoint_id" IN (SELECT s ->> 'endpointId' FROM ${settlements}) AND d."user_id" IN (SELECT s ->> 'userId' FROM ${settlements}) ` +
    `AND NOT EXISTS (SELECT 1 FROM "webhook_deliveries" p WHERE p."endpoint_id" = d."endpoint_id" ` +
    `AND p."user_id" = d."user_id" AND p."state" = 'pending' AND p."event_seq" < d."event_seq")`,
};

import crypto from 'node:crypto';
import dns from 'node:dns';
import type net from 'node:net';
import { Agent, request } from 'undici';
import { isForbiddenAddress, SOCKETS_PER_RECEIVER, type Target, urlProblem } from './webhook-target';

/**
 * Resolves as Node would, refusing forbidden addresses: the check happens on the address connected
 * to, so a name that resolves differently later (DNS rebinding) cannot slip past it.
 */
function guardedLookup(allowPrivate: boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = addresses as dns.LookupAddress[];
      const forbidden = list.find((entry) => isForbiddenAddress(entry.address));
      if (!allowPrivate && forbidden) {
        // Without the address: the error is shown to the organization's admins (a delivery's lastError),
        // who have no business learning how the server resolves internal names.
        const refusal = new Error(
          `${hostname} resolves to a forbidden address (loopback, private, link-local or a metadata service)`,
        );
        return callback(refusal as NodeJS.ErrnoException, '', 0);
      }
      if ((options as dns.LookupOptions).all)
        return (callback as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

/**
 * What a receiver answered: its status (any 2xx is delivered) and, when it said when to try again
 * (`Retry-After`), in how many seconds; or why there is no answer.
 */
export type DeliveryAnswer = { status: number; retryAfterSeconds?: number } | { error: string };

/** `Retry-After` in seconds from now: a number of seconds, or an HTTP date; undefined when neither. */
export function retryAfterSeconds(
  value: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim());
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** One event to POST to one URL, signed with each of `secrets`. */
export interface WebhookRequest {
  url: string;
  event: { id: string; payload: string };
  secrets: string[];
}

/** How much of a receiver's answer is read: the status is what counts. */
const MAX_RESPONSE_BYTES = 4096;

const inFlight = new Map<string, { count: number; waiting: (() => void)[] }>();

/** Waits for a place among the requests to `origin`; the returned function gives it back. */
async function placeFor(origin: string): Promise<() => void> {
  let receiver = inFlight.get(origin);
  if (!receiver) inFlight.set(origin, (receiver = { count: 0, waiting: [] }));
  const held = receiver;
  if (held.count < SOCKETS_PER_RECEIVER) held.count++;
  else await new Promise<void>((resolve) => held.waiting.push(resolve));
  return () => {
    const next = held.waiting.shift();
    if (next) next();
    else if (--held.count === 0) inFlight.delete(origin);
  };
}

const agents = new Map<boolean, Agent>();

/** One agent per address policy: a kept connection's address was checked when it was made. */
function agentFor(allowPrivate: boolean): Agent {
  let agent = agents.get(allowPrivate);
  if (!agent) {
    agent = new Agent({
      connections: SOCKETS_PER_RECEIVER,
      connect: { lookup: guardedLookup(allowPrivate) },
    });
    agents.set(allowPrivate, agent);
  }
  return agent;
}

/**
 * The `webhook-signature` value: a `v1,` signature per secret, each the base64 HMAC-SHA256 of
 * `id.timestamp.payload` under the secret's bytes (the base64 after `whsec_`), as Standard Webhooks
 * specify.
 */
export function signatures(secrets: string[], id: string, timestamp: number, payload: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
      return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${payload}`).digest('base64')}`;
    })
    .join(' ');
}

/**
 * POSTs one event as Standard Webhooks specify: `webhook-id` (the event's id, the same on every
 * attempt), `webhook-timestamp`, and `webhook-signature` with one `v1,` signature per secret (the old
 * one too while a rotation's overlap lasts). Redirects are not followed (undici's `request` follows
 * none); the answer is read up to `MAX_RESPONSE_BYTES`, and all of it must come within the timeout.
 */
export async function sendWebhook(
  url: string,
  event: { id: string; payload: string },
  secrets: string[],
  options: Target & { timeoutMs: number },
): Promise<DeliveryAnswer> {
  const problem = urlProblem(url, options);
  if (problem) return { error: problem };
  const release = await placeFor(new URL(url).origin);
  const timestamp = Math.floor(Date.now() / 1000);
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher: agentFor(options.allowPrivate),
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'users-api-webhooks',
        'webhook-id': event.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatures(secrets, event.id, timestamp, event.payload),
      },
      body: event.payload,
    });
    let read = 0;
    // Leaving the loop early closes the connection; an answer read to its end keeps it for the next.
    for await (const chunk of response.body) {
      read += (chunk as Buffer).length;
      if (read >= MAX_RESPONSE_BYTES) break;
    }
    const retryAfter = retryAfterSeconds(response.headers['retry-after']);
    return retryAfter === undefined
      ? { status: response.statusCode }
      : { status: response.statusCode, retryAfterSeconds: retryAfter };
  } catch (error) {
    if (signal.aborted) return { error: `no answer within ${options.timeoutMs} ms` };
    const cause = (error as { cause?: Error }).cause;
    return { error: (cause ?? (error as Error)).message };
  } finally {
    release();
  }
}

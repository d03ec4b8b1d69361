/**
 * The webhook request thread: makes the requests the sender hands it (webhook-request.ts) and answers
 * with what each receiver said, so that sending, signing and reading answers take no time from the
 * main thread's own requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerCalls } from '../worker-thread';
import { type DeliveryAnswer, sendWebhook, type WebhookRequest } from './webhook-request';
import type { Target } from './webhook-target';

const options = workerData as Target & { timeoutMs: number };

const answer = answerCalls<WebhookRequest, DeliveryAnswer>(parentPort!, (calls) => {
  for (const { id, call } of calls)
    void sendWebhook(call.url, call.event, call.secrets, options).then((delivered) => answer(id, delivered));
});

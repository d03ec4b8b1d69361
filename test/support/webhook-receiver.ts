import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { pollUntil } from './poll';

/** One request the receiver took, its signature checked. */
export interface ReceivedWebhook {
  id: string;
  payload: any;
  verified: boolean;
  signatures: string[];
  /** When it arrived (ms since the epoch). */
  at: number;
}

/**
 * A real webhook receiver on loopback: every request's signature is verified with the
 * `standardwebhooks` package against `secrets` (any one will do), as an integrator's would be.
 * `answer` decides the status it replies with (500 to play an outage, 302 to try a redirect), and
 * `answerHeaders` headers it adds (Retry-After).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  secrets: string[] = [];
  answer: () => number = () => 204;
  answerHeaders: Record<string, string> = {};
  private server: http.Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([name, value]) => [name, String(value)]),
        );
        const verified = this.secrets.some((secret) => {
          try {
            new Webhook(secret).verify(body, headers);
            return true;
          } catch {
            return false;
          }
        });
        const status = this.answer();
        this.received.push({
          id: headers['webhook-id'],
          payload: JSON.parse(body),
          verified,
          signatures: (headers['webhook-signature'] ?? '').split(' '),
          at: Date.now(),
        });
        for (const [name, value] of Object.entries(this.answerHeaders)) res.setHeader(name, value);
        if (status >= 300 && status < 400) res.setHeader('location', `${this.url}/moved`);
        res.statusCode = status;
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    server?.closeAllConnections();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The webhook-id of every request, in arrival order (retries included). */
  ids(): string[] {
    return this.received.map((request) => request.id);
  }

  /** Waits until `done(received)` holds (`timeoutMs` at most). */
  async waitUntil(
    done: (received: ReceivedWebhook[]) => boolean,
    what: string,
    timeoutMs = 15_000,
  ): Promise<ReceivedWebhook[]> {
    return pollUntil(() => this.received, done, {
      timeoutMs,
      failure: (received) => `webhook receiver: ${what}; got ${received.length} requests`,
    });
  }
}

/** Gives a suite a started receiver, stopped after it. */
export function useWebhookReceiver(): WebhookReceiver {
  const receiver = new WebhookReceiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());
  return receiver;
}

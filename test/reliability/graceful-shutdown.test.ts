import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { User } from '../../src/entities/user.entity';
import { errorCode, rawRequest } from '../support/http';
import { seededServer, serverEnv, startProcess, useDatabase, waitForOutput } from '../support/processes';

const IN_FLIGHT = 20;

interface Pending {
  /** Resolves once the server has read the request's headers (it answered 100 Continue). */
  accepted: Promise<void>;
  /** Sends the body; the server can only answer after this. */
  finish(): void;
  response: Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>;
}

/**
 * A PUT /v2/user whose body is held back until `finish()`: with `Expect: 100-continue` the server
 * confirms it has taken the request before any of the body is sent, so it is provably in flight.
 */
function heldRequest(url: string, token: string, name: string, agent: http.Agent | false): Pending {
  const body = JSON.stringify({ name });
  let accept!: () => void;
  let fail!: (error: unknown) => void;
  const accepted = new Promise<void>((resolve, reject) => {
    accept = resolve;
    fail = reject;
  });
  let request!: http.ClientRequest;
  const response = new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      request = http.request(`${url}/v2/user`, {
        method: 'PUT',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      request.on('continue', () => accept());
      request.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
        res.on('error', reject);
      });
      request.on('error', (error) => {
        fail(error);
        reject(error);
      });
      request.flushHeaders();
    },
  );
  response.catch(() => undefined);
  return { accepted, finish: () => request.end(body), response };
}

describe('graceful shutdown on SIGTERM', () => {
  const spawned = useDatabase();

  it('during start-up (the database not answering yet) SIGTERM ends the process at once', async () => {
    // A database that takes connections and never answers: start-up waits on it.
    let connected!: () => void;
    const connection = new Promise<void>((resolve) => (connected = resolve));
    const silent = net.createServer(() => connected());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const env = {
        ...serverEnv(spawned.database),
        DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none`,
      };
      const started = startProcess('src/main.ts', [], env);
      await connection;
      started.child.kill('SIGTERM');
      expect(await started.exit).toEqual({ code: 143, signal: null });
      expect(started.output()).toMatch(/SIGTERM received during start-up: exiting/);
    } finally {
      silent.close();
    }
  });

  it('finishes every accepted request, refuses new connections, exits 0 and leaves the database closed and consistent', async () => {
    const { members, server } = await seededServer(spawned, IN_FLIGHT);

    // Half of the in-flight requests come over keep-alive connections, as a pooling client sends them.
    const keepAlive = new http.Agent({ keepAlive: true });
    // An idle keep-alive connection (its request already answered) must not hold the shutdown up.
    const idle = await new Promise<number>((resolve, reject) =>
      http
        .get(`${server.url}/healthz`, { agent: keepAlive }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject),
    );
    expect(idle).toBe(200);

    const pending = members.map(({ pat }, i) =>
      heldRequest(server.url, pat, `Finished ${i}`, i % 2 ? keepAlive : false),
    );
    await Promise.all(pending.map((p) => p.accepted));

    server.child.kill('SIGTERM');
    await waitForOutput(server, /SIGTERM received/);

    // The listening socket is closed: a new connection is refused at once.
    const refused = await rawRequest(server.url, 'GET', '/healthz').then(
      (res) => `answered ${res.status}`,
      (error) => errorCode(error),
    );
    expect(refused).toBe('ECONNREFUSED');

    // The accepted requests still complete, each with a full response.
    for (const p of pending) p.finish();
    const responses = await Promise.all(pending.map((p) => p.response));
    const answeredAt = Date.now();
    responses.forEach((res, i) => {
      expect({
        i,
        status: res.status,
        body: res.status === 200 ? 'ok' : `${res.body}\n${server.output()}`,
      }).toEqual({
        i,
        status: 200,
        body: 'ok',
      });
      expect(JSON.parse(res.body)).toMatchObject({ id: members[i].user.id, name: `Finished ${i}` });
      expect(res.headers.etag).toBe('"2"');
      // Once shutting down, a keep-alive connection is closed after its response: nothing new can follow.
      expect(res.headers.connection).toBe('close');
    });

    expect(await server.exit).toEqual({ code: 0, signal: null });
    // Keep-alive connections are closed once their last response is out, not left to time out
    // (Node's keepAliveTimeout is 5 s).
    expect(Date.now() - answeredAt).toBeLessThan(4_000);
    keepAlive.destroy();

    if (spawned.database.kind === 'sqlite') {
      // A cleanly closed SQLite database has checkpointed and removed its write-ahead log.
      const file = spawned.database.url.slice('sqlite:'.length);
      expect(fs.existsSync(`${file}-wal`)).toBe(false);
    }
    const direct = await spawned.open();
    const rows = await direct.dataSource.getRepository(User).find();
    for (const [i, { user }] of members.entries()) {
      expect(rows.find((row) => row.id === user.id)).toMatchObject({ name: `Finished ${i}`, version: 2 });
    }
    if (spawned.database.kind === 'sqlite') {
      expect(await direct.dataSource.query('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    }
  }, 120_000);
});

import { UserChange } from '../../src/entities/user-change.entity';
import { User } from '../../src/entities/user.entity';
import { seededServer, spawnServer, useDatabase } from '../support/processes';

const WORKERS = 8;
/** Upper bounds of the flood: it is cut short by the kill long before either is reached. */
const MAX_WRITES_PER_WORKER = 300;
const KILL_AFTER_ACKS = 120;
const KILL_AFTER_MS = 3_000;

interface Ack {
  userId: string;
  field: 'jobTitle' | 'name';
  value: string;
  version: number;
  /** Set for REST writes: the Idempotency-Key and the answer it was acknowledged with. */
  key?: string;
  body?: string;
}

describe('crash safety', () => {
  const spawned = useDatabase();

  it('after a SIGKILL in the middle of a write flood, a restarted server has every acknowledged update', async () => {
    const { members, server: first } = await seededServer(spawned, WORKERS);
    const acks: Ack[] = [];
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      first.child.kill('SIGKILL');
    };
    // The clock starts at the first acknowledgement, so that a slow warm-up does not eat the flood.
    let timer: NodeJS.Timeout | undefined;

    // Each worker writes to its own user, one request after the other, alternating GraphQL and REST.
    const worker = async (w: number) => {
      const { user, pat } = members[w];
      for (let seq = 0; seq < MAX_WRITES_PER_WORKER && !killed; seq++) {
        const value = `w${w}-s${seq}`;
        try {
          if (seq % 2 === 0) {
            const res = await fetch(`${first.url}/graphql`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${pat}` },
              body: JSON.stringify({
                query: 'mutation ($v: String!) { updateMe(input: { jobTitle: $v }) { version } }',
                variables: { v: value },
              }),
            });
            const body = (await res.json()) as any;
            if (res.status === 200 && !body.errors) {
              acks.push({ userId: user.id, field: 'jobTitle', value, version: body.data.updateMe.version });
            }
          } else {
            const key = `crash-${value}`;
            const res = await fetch(`${first.url}/v2/user`, {
              method: 'PUT',
              headers: {
                'content-type': 'application/json',
                authorization: `Bearer ${pat}`,
                'idempotency-key': key,
              },
              body: JSON.stringify({ name: value }),
            });
            const body = await res.text();
            if (res.status === 200) {
              const version = Number(JSON.parse(res.headers.get('etag')!));
              acks.push({ userId: user.id, field: 'name', value, version, key, body });
            }
          }
        } catch {
          return; // the server is gone: whatever was in flight is not acknowledged
        }
        timer ??= setTimeout(kill, KILL_AFTER_MS);
        if (acks.length >= KILL_AFTER_ACKS) kill();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    clearTimeout(timer);
    kill();
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(acks.length).toBeGreaterThan(0);
    console.log(`crash safety: ${acks.length} writes acknowledged before the SIGKILL`);

    const second = await spawnServer(spawned.database);
    const direct = await spawned.open();
    const changes = await direct.dataSource.getRepository(UserChange).find();
    const stored = new Map(
      (await direct.dataSource.getRepository(User).find()).map((user) => [user.id, user] as const),
    );

    // Every acknowledged update is in the history, exactly once.
    const missing = acks.filter(
      (ack) =>
        changes.filter((c) => c.userId === ack.userId && c.changes[ack.field]?.after === ack.value).length !==
        1,
    );
    expect(missing).toEqual([]);
    // Each user is at its last acknowledged version, or one further (the write in flight at the kill).
    for (const { user } of members) {
      const mine = acks.filter((ack) => ack.userId === user.id);
      const row = stored.get(user.id)!;
      const lastVersion = mine.length ? Math.max(...mine.map((ack) => ack.version)) : 1;
      expect([lastVersion, lastVersion + 1]).toContain(row.version);
      expect(changes.filter((c) => c.userId === user.id)).toHaveLength(row.version - 1);
      for (const field of ['jobTitle', 'name'] as const) {
        const last = mine.filter((ack) => ack.field === field).sort((a, b) => b.version - a.version)[0];
        if (last && row.version === lastVersion) expect(row[field]).toBe(last.value);
      }
    }

    // An acknowledged idempotent write is still answered from its key after the crash, not redone.
    const replays = acks.filter((ack) => ack.key).slice(-5);
    expect(replays.length).toBeGreaterThan(0);
    for (const ack of replays) {
      const pat = members.find((m) => m.user.id === ack.userId)!.pat;
      const res = await fetch(`${second.url}/v2/user`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${pat}`,
          'idempotency-key': ack.key!,
        },
        body: JSON.stringify({ name: ack.value }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('idempotent-replayed')).toBe('true');
      expect(await res.text()).toBe(ack.body);
    }
    const after = await direct.dataSource.getRepository(User).find();
    for (const row of after) expect(row.version).toBe(stored.get(row.id)!.version);

    // The restarted server takes writes again on every user.
    for (const { user, pat } of members) {
      const res = await fetch(`${second.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${pat}` },
        body: JSON.stringify({
          query: 'mutation { updateMe(input: { jobTitle: "after the crash" }) { version } }',
        }),
      });
      const body = (await res.json()) as any;
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ updateMe: { version: stored.get(user.id)!.version + 1 } });
    }

    if (spawned.database.kind === 'sqlite') {
      const result = await direct.dataSource.query('PRAGMA integrity_check');
      expect(result).toEqual([{ integrity_check: 'ok' }]);
    }
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
  }, 120_000);
});

import type { RequestContext } from '../../src/auth/principal';
import { In } from 'typeorm';
import { CredentialKind } from '../../src/entities/enums';
import { IdempotencyKey } from '../../src/entities/idempotency-key.entity';
import { UserChange } from '../../src/entities/user-change.entity';
import { User } from '../../src/entities/user.entity';
import { IdempotencyService, requestFingerprint } from '../../src/services/idempotency.service';
import { type RawResponse, rawRequest } from '../support/http';
import {
  type DirectDatabase,
  type SpawnedServer,
  seedOrganization,
  spawnServer,
  useDatabase,
} from '../support/processes';

/** The spawned servers' abandonment window: short, so that retries of lost claims need not wait 60 s. */
const ABANDONED_AFTER_SECONDS = 4;
const USERS = 40;
const WRITES_PER_USER = 4;
/** Requests in flight at once during the flood. */
const CONCURRENCY = 80;
/**
 * The flood is cut by a SIGKILL once this many have been answered and at least KILL_WITH_UNANSWERED
 * more have committed (seen in the history table), so that some writes die between their commit and
 * their answer; at the latest once MAX_ANSWERS have been answered.
 */
const KILL_AFTER_ANSWERS = 30;
const KILL_WITH_UNANSWERED = 6;
const MAX_ANSWERS = 80;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One keyed write of the flood: its own key and its own new name for one user. */
interface Write {
  userId: string;
  token: string;
  key: string;
  name: string;
  started?: boolean;
  /** The answer the first attempt got before the kill, if it got one. */
  answer?: RawResponse;
}

function patch(url: string, write: Write): Promise<RawResponse> {
  return rawRequest(
    url,
    'PATCH',
    `/api/v1/users/${write.userId}`,
    { authorization: `Bearer ${write.token}`, 'idempotency-key': write.key },
    JSON.stringify({ name: write.name }),
  );
}

/** The history entries that set `name` on the user. */
function entriesFor(changes: UserChange[], write: Pick<Write, 'userId' | 'name'>): UserChange[] {
  return changes.filter((c) => c.userId === write.userId && c.changes.name?.after === write.name);
}

describe('Idempotency-Key: a write is applied once, whatever dies when', () => {
  const spawned = useDatabase();
  let direct: DirectDatabase | undefined;
  /** The spawned servers' settings: a short abandonment window. */
  const env = { IDEMPOTENCY_ABANDONED_AFTER_SECONDS: String(ABANDONED_AFTER_SECONDS) };

  beforeAll(async () => {
    direct = await spawned.open();
  });

  /** A member, the context of a request made with its PAT, and helpers to look at its claim and history. */
  async function member() {
    const { services, fixtures, dataSource } = direct!;
    const orgId = await fixtures.org('Claims');
    const created = await fixtures.user(orgId);
    const credential = await fixtures.token(created.id, CredentialKind.PERSONAL_ACCESS_TOKEN);
    const user = (await services.db.users.userById(created.id))!;
    const context = (claim?: { claimId: string; appliedResult: string | null }): RequestContext => ({
      requestId: `req-${Math.random()}`,
      principal: {
        user,
        credentialId: credential.id,
        credentialKind: CredentialKind.PERSONAL_ACCESS_TOKEN,
        scopes: new Set(['users:read', 'users:write']),
      },
      idempotency: claim,
    });
    const claimRow = (id: string) => dataSource.getRepository(IdempotencyKey).findOneBy({ id });
    const history = () => dataSource.getRepository(UserChange).findBy({ userId: user.id });
    const stored = () => dataSource.getRepository(User).findOneByOrFail({ id: user.id });
    return { user, credentialId: credential.id, context, claimRow, history, stored };
  }

  it('a claim whose write applied but whose answer was never stored is replayed, not applied again', async () => {
    const { services } = direct!;
    const { user, credentialId, context, claimRow, history, stored } = await member();
    const fingerprint = requestFingerprint('PATCH', `/api/v1/users/${user.id}`, '{"name":"Once"}');
    // Another write first, so that the keyed write's first attempt reads a stale version and writes on
    // its second (with the row locked, on PostgreSQL): the claim goes with it there too.
    await services.users.update(context(), user.id, { jobTitle: 'Before' });

    const start = await services.idempotency.start(credentialId, 'k-replay', fingerprint);
    if (start.outcome !== 'proceed') throw new Error(`expected proceed, got ${start.outcome}`);
    expect(start.appliedResult).toBeNull();
    const first = await services.users.update(context(start), user.id, { name: 'Once' });
    expect(first.changedFields).toEqual(['name']);
    expect(first.user.version).toBe(3);
    await services.idempotency.finish(start.claimId, 200, '{"stored":"answer"}', { ETag: '"3"' });
    // The process dies after the write committed and before the answer was stored: as if never finished.
    await direct!.dataSource
      .getRepository(IdempotencyKey)
      .update({ id: start.claimId }, { status: null, responseBody: null, responseHeaders: null });
    expect((await history()).filter((c) => c.changes.name?.after === 'Once')).toHaveLength(1);

    // However long ago: a claim whose write applied is never taken over.
    await direct!.dataSource
      .getRepository(IdempotencyKey)
      .update({ id: start.claimId }, { createdAt: new Date(Date.now() - 3_600_000).toISOString() });
    const retry = await services.idempotency.start(credentialId, 'k-replay', fingerprint);
    expect(retry).toEqual({ outcome: 'proceed', claimId: start.claimId, appliedResult: expect.any(String) });
    if (retry.outcome !== 'proceed') return;
    // The retry runs the request again; its update answers with what the first one applied.
    const again = await services.users.update(context(retry), user.id, { name: 'Once' });
    expect(again.changedFields).toEqual(['name']);
    expect(again.user).toBeInstanceOf(User);
    expect({ ...again.user, organization: { ...again.user.organization } }).toEqual({
      ...first.user,
      organization: { ...first.user.organization },
    });
    // A failure of the retry (a 5xx, say) does not give the key away either.
    await services.idempotency.release(retry.claimId);
    expect(await claimRow(start.claimId)).not.toBeNull();

    expect(await stored()).toMatchObject({ name: 'Once', version: 3 });
    expect((await history()).filter((c) => c.changes.name?.after === 'Once')).toHaveLength(1);
    expect(await history()).toHaveLength(2);

    // A request that had nothing to change keeps that answer for its retries too.
    const noop = await services.idempotency.start(credentialId, 'k-noop', fingerprint);
    if (noop.outcome !== 'proceed') throw new Error(`expected proceed, got ${noop.outcome}`);
    expect((await services.users.update(context(noop), user.id, { name: 'Once' })).changedFields).toEqual([]);
    expect((await claimRow(noop.claimId))?.appliedResult).toEqual(expect.any(String));
    expect(await history()).toHaveLength(2);
  });

  it("a stale claim's takeover makes the old attempt's write fail without writing", async () => {
    const { services } = direct!;
    const idempotency = new IdempotencyService(services.db, 60);
    const { user, credentialId, context, claimRow, history, stored } = await member();
    const fingerprint = requestFingerprint('PATCH', `/api/v1/users/${user.id}`, '{"name":"Taken"}');

    const old = await idempotency.start(credentialId, 'k-stale', fingerprint);
    if (old.outcome !== 'proceed') throw new Error(`expected proceed, got ${old.outcome}`);
    // While young, the claim keeps retries out.
    expect(await idempotency.start(credentialId, 'k-stale', fingerprint)).toEqual({ outcome: 'in-progress' });
    await direct!.dataSource
      .getRepository(IdempotencyKey)
      .update({ id: old.claimId }, { createdAt: new Date(Date.now() - 120_000).toISOString() });
    const taken = await idempotency.start(credentialId, 'k-stale', fingerprint);
    if (taken.outcome !== 'proceed') throw new Error(`expected proceed, got ${taken.outcome}`);
    expect(taken.claimId).not.toBe(old.claimId);
    expect(taken.appliedResult).toBeNull();
    expect(await claimRow(old.claimId)).toBeNull();

    // The old attempt was only slow: its write comes now, under the claim it no longer holds.
    await expect(services.users.update(context(old), user.id, { name: 'Taken' })).rejects.toMatchObject({
      extensions: { code: 'CONFLICT' },
      message: expect.stringMatching(/took the request over/),
    });
    // Nor does a change with nothing to write answer under a lost claim.
    await expect(services.users.update(context(old), user.id, { name: user.name })).rejects.toMatchObject({
      extensions: { code: 'CONFLICT' },
    });
    expect(await stored()).toMatchObject({ name: user.name, version: 1 });
    expect(await history()).toHaveLength(0);
    // Its failure does not release the claim that took over.
    await idempotency.release(old.claimId);
    expect(await claimRow(taken.claimId)).not.toBeNull();

    const done = await services.users.update(context(taken), user.id, { name: 'Taken' });
    expect(done.user.version).toBe(2);
    expect(await history()).toHaveLength(1);
    expect((await claimRow(taken.claimId))?.appliedResult).toEqual(expect.any(String));
  });

  it('keyed writes in flight at a SIGKILL, retried after a restart, are each applied exactly once', async () => {
    const { members } = await seedOrganization(direct!.fixtures, USERS);
    const writes: Write[] = [];
    for (let n = 0; n < WRITES_PER_USER; n++) {
      for (const [u, { user, pat }] of members.entries()) {
        writes.push({ userId: user.id, token: pat, key: `flood-${u}-${n}`, name: `Flood ${u}.${n}` });
      }
    }

    const first: SpawnedServer = await spawnServer(spawned.database, { env });
    let answered = 0;
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      first.child.kill('SIGKILL');
    };
    let next = 0;
    const sender = async () => {
      while (!killed && next < writes.length) {
        const write = writes[next++];
        write.started = true;
        try {
          write.answer = await patch(first.url, write);
        } catch {
          return; // the server is gone: this write's outcome is unknown
        }
        if (++answered >= MAX_ANSWERS) kill();
      }
    };
    const ids = members.map(({ user }) => user.id);
    const watch = async () => {
      while (!killed) {
        const committed = await direct!.dataSource.getRepository(UserChange).countBy({ userId: In(ids) });
        if (answered >= KILL_AFTER_ANSWERS && committed - answered >= KILL_WITH_UNANSWERED) kill();
        await sleep(2);
      }
    };
    await Promise.all([watch(), ...Array.from({ length: CONCURRENCY }, sender)]);
    kill();
    expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
    const sent = writes.filter((write) => write.started);
    for (const write of sent) if (write.answer) expect(write.answer.status).toBe(200);

    // What the kill left: writes that committed without an answer, and claims whose write never did.
    const before = await direct!.dataSource.getRepository(UserChange).find();
    const unanswered = sent.filter((write) => !write.answer);
    const committedUnanswered = unanswered.filter((write) => entriesFor(before, write).length === 1);
    const claimed = new Set(
      (await direct!.dataSource.getRepository(IdempotencyKey).find()).map((claim) => claim.key),
    );
    const abandoned = unanswered.filter((w) => claimed.has(w.key) && !committedUnanswered.includes(w));
    console.log(
      `idempotency crash: ${sent.length} writes sent, ${sent.length - unanswered.length} answered, ` +
        `${committedUnanswered.length} committed without an answer, ${abandoned.length} claimed and ` +
        `not committed, ${unanswered.length - committedUnanswered.length - abandoned.length} not claimed`,
    );
    expect(committedUnanswered.length).toBeGreaterThan(0);

    // Every write again, with its key and body, until it is answered; "in progress" only for a while.
    const second = await spawnServer(spawned.database, { env });
    // Every user changes once more before the retries, as users do: a write applied a second time would
    // now show, as a second history entry for its key's value.
    for (const [u, { user, pat }] of members.entries()) {
      const res = await rawRequest(
        second.url,
        'PATCH',
        `/api/v1/users/${user.id}`,
        { authorization: `Bearer ${pat}` },
        JSON.stringify({ name: `Between ${u}` }),
      );
      expect(res.status).toBe(200);
    }
    const retried = new Map<Write, RawResponse>();
    let inProgress = 0;
    const deadline = Date.now() + (ABANDONED_AFTER_SECONDS + 30) * 1000;
    const retry = async (write: Write) => {
      for (;;) {
        const res = await patch(second.url, write);
        if (res.status === 200) return retried.set(write, res);
        expect({ key: write.key, status: res.status }).toEqual({ key: write.key, status: 409 });
        expect(Date.now()).toBeLessThan(deadline);
        inProgress += 1;
        await sleep(250);
      }
    };
    const queue = [...sent];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (queue.length > 0) await retry(queue.shift()!);
      }),
    );
    console.log(`idempotency crash: ${inProgress} retries answered 409 (in progress) before their turn`);

    // Exactly one history entry for every key's change.
    const changes = await direct!.dataSource.getRepository(UserChange).find({ order: { seq: 'ASC' } });
    expect(sent.filter((write) => entriesFor(changes, write).length !== 1).map((write) => write.key)).toEqual(
      [],
    );
    const rows = await direct!.dataSource.getRepository(User).find();
    for (const { user } of members) {
      const row = rows.find((r) => r.id === user.id)!;
      expect(changes.filter((c) => c.userId === user.id)).toHaveLength(row.version - 1);
    }

    // A write that was answered before the kill is replayed with that answer.
    for (const write of sent.filter((w) => w.answer)) {
      const res = retried.get(write)!;
      expect({ key: write.key, replayed: res.headers['idempotent-replayed'], body: res.body }).toEqual({
        key: write.key,
        replayed: 'true',
        body: write.answer!.body,
      });
      expect(res.headers.etag).toBe(write.answer!.headers.etag);
    }
    // One that committed without an answer is replayed too, with the answer its first attempt would
    // have had: the user as that change left it, at the version it made.
    for (const write of committedUnanswered) {
      const res = retried.get(write)!;
      const [entry] = entriesFor(changes, write);
      const mine = changes.filter((c) => c.userId === write.userId);
      const body = JSON.parse(res.body);
      expect({ key: write.key, replayed: res.headers['idempotent-replayed'] }).toEqual({
        key: write.key,
        replayed: 'true',
      });
      expect(body).toMatchObject({ id: write.userId, name: write.name, updatedAt: entry.createdAt });
      expect(res.headers.etag).toBe(`"${mine.indexOf(mine.find((c) => c.seq === entry.seq)!) + 2}"`);
      // And from now on that answer is the stored one.
      const stored = await patch(second.url, write);
      expect({ status: stored.status, body: stored.body, etag: stored.headers.etag }).toEqual({
        status: 200,
        body: res.body,
        etag: res.headers.etag,
      });
      expect(stored.headers['idempotent-replayed']).toBe('true');
    }
    // Nothing is left in progress.
    const claims = await direct!.dataSource.getRepository(IdempotencyKey).find();
    const flood = new Set(sent.map((write) => write.key));
    const open = claims.filter((claim) => flood.has(claim.key) && claim.status === null);
    expect(open.map((claim) => claim.key)).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
  }, 180_000);
});

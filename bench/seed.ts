import crypto from 'node:crypto';
import type { BenchDatabase } from './database';
import {
  type Fixtures,
  hashSecret,
  type MemberFixture,
  newCredentialId,
  jwtSigner,
  newNonce,
  newSecret,
  userIdOf,
} from './fixtures';
import { openPostgresWriter } from './postgres-writer';
import { openSqliteWriter } from './sqlite-writer';
import type { TableWriter } from './table-writer';

export interface SeedOptions {
  /** Members (the admin comes on top). */
  users: number;
  /** How many members get credentials for the per-user scenarios. */
  credentialUsers: number;
  jwtSecret: string;
}

const USER_BATCH = 50_000;
const ROWS_PER_TRANSACTION = 200_000;
const CREDENTIAL_BATCH = 1000;
const FULL = 'users:read users:write';

/**
 * Seeds one organization with an admin (user 0) and `users` members (1 … users), and the credentials the
 * scenarios use, straight into the tables (hashes as the server stores them): seeding through the API
 * would take longer than the benchmark and measure nothing.
 */
export async function seed(db: BenchDatabase, options: SeedOptions): Promise<Fixtures> {
  const nonce = newNonce();
  const signJwt = jwtSigner(options.jwtSecret);
  const now = new Date().toISOString();
  const organizationId = `org_${crypto.randomBytes(16).toString('base64url')}`;
  const writer = await (db.kind === 'sqlite'
    ? openSqliteWriter(db.location)
    : openPostgresWriter(db.location));
  try {
    await writer.begin();
    await writer.insert('organizations', { id: [organizationId], name: ['Benchmark'], created_at: [now] });
    await insertUsers(writer, nonce, organizationId, now, options.users);
    await writer.commit();

    const credentials = new CredentialRows(now);
    const adminPat = credentials.opaque(userIdOf(nonce, 0), 'pat', 'pat_', FULL);
    const members: MemberFixture[] = [];
    const jwtExpiry = new Date(Date.now() + 7 * 24 * 3600 * 1000);
    for (let i = 1; i <= Math.min(options.credentialUsers, options.users); i++) {
      const id = userIdOf(nonce, i);
      const jti = credentials.add(id, 'jwt', FULL, null, jwtExpiry.toISOString());
      members.push({
        id,
        numericId: i + 1,
        pat: credentials.opaque(id, 'pat', 'pat_', FULL),
        apiKey: credentials.opaque(id, 'api_key', 'key_', FULL),
        writeToken:
          i % 2 === 0
            ? credentials.opaque(id, 'api_key', 'key_', 'write')
            : credentials.opaque(id, 'oauth', 'oat_', 'write'),
        jwt: signJwt({ sub: id, jti, scopes: FULL.split(' '), expiresAt: jwtExpiry }),
        bearer: credentials.opaque(id, 'oauth', 'oat_', FULL),
      });
    }
    await writer.begin();
    await credentials.write(writer);
    await writer.commit();
    await writer.finish();
    return {
      organizationId,
      nonce,
      userCount: options.users,
      stride: strideFor(options.users),
      adminPat,
      members,
    };
  } finally {
    await writer.close();
  }
}

async function insertUsers(
  writer: TableWriter,
  nonce: string,
  organizationId: string,
  now: string,
  members: number,
) {
  let inTransaction = 0;
  for (let first = 0; first <= members; first += USER_BATCH) {
    const last = Math.min(first + USER_BATCH - 1, members);
    await writer.insertUsers({ first, last, nonce, organizationId, now });
    inTransaction += last - first + 1;
    if (inTransaction >= ROWS_PER_TRANSACTION && last < members) {
      await writer.commit();
      await writer.begin();
      inTransaction = 0;
    }
  }
}

/** A prime stride unless it divides the count (then 1): either way coprime with it. */
function strideFor(count: number): number {
  const prime = 1_000_003;
  return count % prime === 0 ? 1 : prime;
}

/** Credential rows collected in memory, written in batches at the end. */
class CredentialRows {
  private readonly rows: string[][] = [];

  constructor(private readonly now: string) {}

  /** Adds a row and returns its id. */
  add(userId: string, kind: string, scopes: string, secretHash: string | null, expiresAt: string | null) {
    const id = newCredentialId();
    this.rows.push([id, kind, userId, scopes, secretHash ?? '', expiresAt ?? '']);
    return id;
  }

  /** Adds an opaque credential and returns its secret (only the hash is stored). */
  opaque(userId: string, kind: string, prefix: 'pat_' | 'key_' | 'oat_', scopes: string): string {
    const secret = newSecret(prefix);
    this.add(userId, kind, scopes, hashSecret(secret), null);
    return secret;
  }

  async write(writer: TableWriter): Promise<void> {
    for (let start = 0; start < this.rows.length; start += CREDENTIAL_BATCH) {
      const batch = this.rows.slice(start, start + CREDENTIAL_BATCH);
      const column = (i: number) => batch.map((row) => row[i] || null);
      await writer.insert(
        'credentials',
        {
          id: column(0),
          kind: column(1),
          user_id: column(2),
          scopes: column(3),
          secret_hash: column(4),
          expires_at: column(5),
        },
        { created_at: this.now, name: 'benchmark' },
      );
    }
  }
}

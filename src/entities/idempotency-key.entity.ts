import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A REST request made with an Idempotency-Key: while `status` is null the first attempt is still
 * running; afterwards the stored response is what every retry with the same key and body receives.
 * `appliedResult` is written in the same transaction as the request's change, so a write whose
 * response was never stored (the process died in between) is replayed from it, never applied again.
 */
@Entity({ name: 'idempotency_keys' })
@Index('UQ_idempotency_keys_owner_key', ['credentialId', 'key'], { unique: true })
export class IdempotencyKey {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'credential_id', type: 'varchar', length: 40 })
  credentialId: string;

  @Column({ type: 'varchar', length: 255 })
  key: string;

  /** SHA-256 of method, path and body: the same key with another request is refused. */
  @Column({ type: 'varchar', length: 64 })
  fingerprint: string;

  @Column({ type: 'integer', nullable: true })
  status: number | null;

  @Column({ name: 'response_body', type: 'text', nullable: true })
  responseBody: string | null;

  @Column({ name: 'response_headers', type: 'simple-json', nullable: true })
  responseHeaders: Record<string, string> | null;

  /**
   * What the request's update did (JSON: the user after it, as stored, and the fields it changed),
   * written with the change itself; null while nothing has been applied under this claim.
   */
  @Column({ name: 'applied_result', type: 'text', nullable: true })
  appliedResult: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Index('IX_idempotency_keys_expires')
  @Column({ name: 'expires_at', type: 'varchar', length: 32 })
  expiresAt: string;
}

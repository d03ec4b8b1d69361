import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { CredentialKind } from './enums';
import { User } from './user.entity';

/**
 * An issued credential. Opaque tokens keep only the SHA-256 of the secret; a JWT keeps no secret at
 * all, its row exists so that it can be revoked by id (`jti`).
 */
@Entity({ name: 'credentials' })
export class Credential {
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  kind: CredentialKind;

  @Index('IX_credentials_user')
  @Column({ name: 'user_id', type: 'varchar', length: 40 })
  userId: string;

  @ManyToOne(() => User, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'user_id', referencedColumnName: 'id' })
  user: User;

  /** Space-separated scope names. */
  @Column({ type: 'varchar', length: 500 })
  scopes: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  name: string | null;

  @Index('UQ_credentials_secret_hash', { unique: true })
  @Column({ name: 'secret_hash', type: 'varchar', length: 64, nullable: true })
  secretHash: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Column({ name: 'expires_at', type: 'varchar', length: 32, nullable: true })
  expiresAt: string | null;

  @Column({ name: 'last_used_at', type: 'varchar', length: 32, nullable: true })
  lastUsedAt: string | null;

  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true })
  revokedAt: string | null;
}

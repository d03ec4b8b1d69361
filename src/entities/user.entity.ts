import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { GraphQLDateTimeISO, GraphQLJSONObject, GraphQLUUID } from 'graphql-scalars';
import { Organization } from './organization.entity';
import { ProjectsSortOrder, Role, UserStatus } from './enums';

export type Metadata = Record<string, string | number | boolean>;

/**
 * A user. The integer primary key doubles as `numericId` (document 003 addresses users by integer);
 * `id` is the public identifier everywhere else.
 */
@ObjectType()
@Entity({ name: 'users' })
@Index('UQ_users_org_email', ['organizationId', 'emailLower'], { unique: true })
@Index('UQ_users_org_username', ['organizationId', 'usernameLower'], { unique: true })
// Whether another active admin remains after a demotion.
@Index('IX_users_org_role_status', ['organizationId', 'role', 'status'])
// Partial: almost every row has no token, and an update that leaves it NULL then touches no index entry.
@Index('UQ_users_email_change_token', ['emailChangeTokenHash'], {
  unique: true,
  where: '"email_change_token_hash" IS NOT NULL',
})
@Index('UQ_users_email_cancel_token', ['emailCancelTokenHash'], {
  unique: true,
  where: '"email_cancel_token_hash" IS NOT NULL',
})
export class User {
  @Field(() => Int, { description: 'Unique integer id (the form document 003 uses)' })
  @PrimaryGeneratedColumn({ name: 'numeric_id', type: 'integer' })
  numericId: number;

  @Field(() => ID, { description: 'Public id: usr_ followed by random URL-safe characters' })
  @Index('UQ_users_id', { unique: true })
  @Column({ type: 'varchar', length: 40 })
  id: string;

  @Field(() => GraphQLUUID)
  @Index('UQ_users_uuid', { unique: true })
  @Column({ type: 'varchar', length: 36 })
  uuid: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 40 })
  organizationId: string;

  @Field(() => Organization)
  @ManyToOne(() => Organization, { onDelete: 'CASCADE', nullable: false })
  @JoinColumn({ name: 'organization_id' })
  organization: Organization;

  @Field()
  @Column({ type: 'varchar', length: 254 })
  email: string;

  /** Lower-cased email: the unique index on it makes uniqueness case-insensitive on both databases. */
  @Column({ name: 'email_lower', type: 'varchar', length: 254 })
  emailLower: string;

  @Field()
  @Column({ name: 'email_verified', type: 'boolean', default: false })
  emailVerified: boolean;

  /**
   * An address the user asked to change to, applied once confirmed through the link sent to it (GraphQL
   * and REST show it through a field resolver: to the user and admins, and only until it expires).
   */
  @Column({ name: 'pending_email', type: 'varchar', length: 254, nullable: true })
  pendingEmail: string | null;

  @Column({ name: 'pending_email_expires_at', type: 'varchar', length: 32, nullable: true })
  pendingEmailExpiresAt: string | null;

  /** SHA-256 of the confirmation link's token (the token itself is only in the message). */
  @Column({ name: 'email_change_token_hash', type: 'varchar', length: 64, nullable: true })
  emailChangeTokenHash: string | null;

  /** SHA-256 of the token of the link, sent to the current address, that cancels the pending change. */
  @Column({ name: 'email_cancel_token_hash', type: 'varchar', length: 64, nullable: true })
  emailCancelTokenHash: string | null;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name: string;

  @Field(() => String, { nullable: true })
  @Column({ type: 'varchar', length: 40, nullable: true })
  username: string | null;

  @Column({ name: 'username_lower', type: 'varchar', length: 40, nullable: true })
  usernameLower: string | null;

  @Field(() => String, { nullable: true })
  @Column({ name: 'first_name', type: 'varchar', length: 200, nullable: true })
  firstName: string | null;

  @Field(() => String, { nullable: true })
  @Column({ name: 'last_name', type: 'varchar', length: 200, nullable: true })
  lastName: string | null;

  @Field(() => Role)
  @Column({ type: 'varchar', length: 16 })
  role: Role;

  @Field(() => UserStatus)
  @Column({ type: 'varchar', length: 16 })
  status: UserStatus;

  @Field(() => Int, { description: 'Read-only' })
  @Column({ name: 'credits_balance', type: 'integer', default: 0 })
  creditsBalance: number;

  @Field(() => String, { nullable: true })
  @Column({ name: 'job_title', type: 'varchar', length: 200, nullable: true })
  jobTitle: string | null;

  @Field(() => String, { nullable: true })
  @Column({ name: 'company_name', type: 'varchar', length: 200, nullable: true })
  companyName: string | null;

  @Field(() => [String])
  @Column({ type: 'simple-json' })
  experiments: string[];

  @Field(() => ProjectsSortOrder, { nullable: true })
  @Column({ name: 'projects_sort_order', type: 'varchar', length: 32, nullable: true })
  projectsSortOrder: ProjectsSortOrder | null;

  @Field(() => String, { nullable: true, description: 'IANA time zone name' })
  @Column({ type: 'varchar', length: 64, nullable: true })
  timezone: string | null;

  @Field(() => GraphQLJSONObject, { description: 'At most 16 keys; values are strings, numbers or booleans' })
  @Column({ type: 'simple-json' })
  metadata: Metadata;

  @Field(() => GraphQLDateTimeISO)
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;

  @Field(() => GraphQLDateTimeISO)
  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt: string;

  @Field(() => Int, { description: 'Incremented by every change that changes something' })
  @Column({ type: 'integer', default: 1 })
  version: number;
}

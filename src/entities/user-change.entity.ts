import { Field, ID, ObjectType } from 'type-graphql';
import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { GraphQLDateTimeISO, GraphQLJSONObject } from 'graphql-scalars';

/** A stored user field value (text, number, flag, list of strings or metadata object). */
export type FieldValue =
  string | number | boolean | null | string[] | Record<string, string | number | boolean>;

/** A field's value before and after one change. */
export type FieldChange = { before: FieldValue; after: FieldValue };

/** One successful change to a user, written in the same transaction as the change itself. */
@ObjectType({ description: 'One successful change to a user: who made it, and each field before and after' })
@Entity({ name: 'user_changes' })
@Index('IX_user_changes_user', ['userId', 'seq'])
export class UserChange {
  /** Insertion order; pages are cut on it. */
  @PrimaryGeneratedColumn({ name: 'seq', type: 'integer' })
  seq: number;

  @Field(() => ID)
  @Index('UQ_user_changes_id', { unique: true })
  @Column({ type: 'varchar', length: 40 })
  id: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 40 })
  organizationId: string;

  @Field(() => ID, { description: 'The user that changed' })
  @Column({ name: 'user_id', type: 'varchar', length: 40 })
  userId: string;

  @Field(() => ID, { description: 'Who made the change' })
  @Column({ name: 'actor_user_id', type: 'varchar', length: 40 })
  actorUserId: string;

  @Field(() => ID, { description: 'The credential the change was made with' })
  @Column({ name: 'credential_id', type: 'varchar', length: 40 })
  credentialId: string;

  @Field()
  @Column({ name: 'request_id', type: 'varchar', length: 128 })
  requestId: string;

  @Field(() => [String])
  @Column({ name: 'changed_fields', type: 'simple-json' })
  changedFields: string[];

  @Field(() => GraphQLJSONObject, { description: '{ field: { before, after } } for every changed field' })
  @Column({ type: 'simple-json' })
  changes: Record<string, FieldChange>;

  @Field(() => GraphQLDateTimeISO)
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;
}

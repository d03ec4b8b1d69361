import { Field, ID, ObjectType } from 'type-graphql';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { GraphQLDateTimeISO } from 'graphql-scalars';

@ObjectType()
@Entity({ name: 'organizations' })
export class Organization {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Field()
  @Column({ type: 'varchar', length: 200 })
  name: string;

  /** ISO 8601 UTC text: one exact, portable representation on SQLite and PostgreSQL. */
  @Field(() => GraphQLDateTimeISO)
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt: string;
}

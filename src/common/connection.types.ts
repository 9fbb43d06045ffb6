import { type ClassType, Field, Int, ObjectType } from 'type-graphql';

/** Relay page information. */
@ObjectType()
export class PageInfo {
  @Field()
  hasNextPage!: boolean;

  @Field()
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/**
 * Builds the Relay `<Name>Edge` and `<Name>Connection` types for a node type.
 * `totalCount` is resolved by the domain's connection resolver, and only when asked for.
 */
export function connectionTypes<T extends object>(nodeType: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field({ description: 'Opaque cursor of this edge, for `after`.' })
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${name}Connection`)
  class Connection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int, { description: 'Number of items matching the listing, across all pages.' })
    totalCount!: number;
  }

  return { Edge, Connection };
}

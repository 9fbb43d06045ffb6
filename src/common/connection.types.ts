import { type ClassType, Directive, Field, FieldResolver, Int, ObjectType, Resolver, Root } from 'type-graphql';
import { type Page } from './pagination.js';

/** Relay page information; a value type every subgraph of a supergraph may define too. */
@Directive('@shareable')
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
 * Builds the Relay `<Name>Edge` and `<Name>Connection` types for a node type, and the resolver
 * (register it with the schema) that counts the listing only when `totalCount` is asked for.
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

  @Resolver(() => Connection)
  class ConnectionResolver {
    @FieldResolver(() => Int)
    totalCount(@Root() page: Page<T>): Promise<number> {
      return page.totalCount();
    }
  }

  return { Edge, Connection, ConnectionResolver };
}

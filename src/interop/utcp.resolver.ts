import { GraphQLJSON } from 'graphql-scalars';
import { Ctx, Query, Resolver } from 'type-graphql';
import { type RegistryContext } from '../context.types.js';
import { registryManual, type RegistryManual } from './utcp-manual.js';

/** The registry as a UTCP manual, for GraphQL clients (the same document as `GET /utcp`). */
@Resolver()
export class UtcpManualResolver {
  @Query(() => GraphQLJSON, {
    description:
      'A UTCP 1.1 manual of exactly the tools the caller may execute (tools:execute), each called through `POST /tools/{name}/call` on this registry with the bearer token the UTCP client knows as `REGISTRY_TOKEN`; the same document as `GET /utcp`.',
  })
  utcpManual(@Ctx() ctx: RegistryContext): Promise<RegistryManual> {
    return registryManual(ctx);
  }
}

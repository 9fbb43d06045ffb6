import { Directive, Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { CallTemplateType, ProviderStatus } from './provider.entity.js';

registerEnumType(CallTemplateType, { name: 'CallTemplateType', description: 'UTCP 1.1 call template types.' });
registerEnumType(ProviderStatus, { name: 'ProviderStatus' });

/** A registered provider (UTCP manual call template). */
@Directive('@key(fields: "id")')
@ObjectType('Provider', { description: 'A source of tools: a UTCP manual, OpenAPI document or MCP server.' })
export class ProviderNode {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'Unique name; prefixes the names of its tools.' })
  name!: string;

  @Field(() => CallTemplateType)
  callTemplateType!: CallTemplateType;

  @Field(() => ProviderStatus)
  status!: ProviderStatus;

  @Field(() => Date, { nullable: true })
  lastDiscoveredAt?: Date | null;

  @Field(() => String, { nullable: true, description: 'Why the last discovery failed, when it did.' })
  lastError?: string | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

export const {
  Edge: ProviderEdge,
  Connection: ProviderConnection,
  ConnectionResolver: ProviderConnectionResolver,
} = connectionTypes(ProviderNode, 'Provider');

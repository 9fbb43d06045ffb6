import { GraphQLJSON } from 'graphql-scalars';
import { Directive, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { connectionTypes } from '../../common/connection.types.js';
import { CallTemplateType } from '../provider/provider.entity.js';
import { CatalogChangeKind } from './catalog.events.js';
import { ToolStatus } from './tool.entity.js';
import { ToolVersionStatus } from './tool-version.entity.js';
import { UserError } from '../../common/user-error.types.js';

registerEnumType(ToolStatus, { name: 'ToolStatus', description: 'Whether a tool may be called or awaits approval.' });

/** A tool in the catalog. Resolvers return `Tool` entities; fields map onto their properties. */
@Directive('@key(fields: "id")')
@ObjectType('Tool', { description: 'A tool an agent can call, named `provider.tool`.' })
export class ToolNode {
  @Field(() => ID)
  id!: string;

  @Field({ description: 'Unique name: `provider.tool`.' })
  name!: string;

  @Field()
  description!: string;

  @Field(() => GraphQLJSON, { nullable: true, description: 'JSON Schema of the arguments.' })
  inputs?: Record<string, unknown> | null;

  @Field(() => GraphQLJSON, { nullable: true, description: 'JSON Schema of the result.' })
  outputs?: Record<string, unknown> | null;

  @Field(() => [String])
  tags!: string[];

  @Field(() => Int, { nullable: true, description: 'Typical size of a response, in bytes, as the provider states it.' })
  averageResponseSize?: number | null;

  @Field()
  enabled!: boolean;

  @Field(() => ToolStatus)
  status!: ToolStatus;

  @Field(() => Int, { description: 'Increases each time the definition changes.' })
  version!: number;

  @Field({ description: 'sha-256 of the name, description, schemas and call template of this version.' })
  definitionHash!: string;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;
}

registerEnumType(ToolVersionStatus, { name: 'ToolVersionStatus' });

/** One definition a tool has had, approved, pending approval or superseded. */
@ObjectType('ToolVersion')
export class ToolVersionNode {
  @Field(() => Int)
  version!: number;

  @Field()
  definitionHash!: string;

  @Field(() => ToolVersionStatus)
  status!: ToolVersionStatus;

  @Field(() => GraphQLJSON, { description: 'description, inputs, outputs, tags and call template of this version.' })
  definition!: Record<string, unknown>;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  decidedAt?: Date | null;
}

@InputType()
export class ApproveToolVersionInput {
  @Field(() => ID)
  toolId!: string;

  @Field(() => Int)
  version!: number;
}

@InputType()
export class SetToolEnabledInput {
  @Field(() => ID)
  toolId!: string;

  @Field()
  enabled!: boolean;
}

@ObjectType()
export class ToolPayload {
  @Field(() => ToolNode, { nullable: true })
  tool?: ToolNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

export const {
  Edge: ToolEdge,
  Connection: ToolConnection,
  ConnectionResolver: ToolConnectionResolver,
} = connectionTypes(ToolNode, 'Tool');

@InputType({ description: 'Narrows a tool listing; all given criteria must hold.' })
export class ToolFilter {
  @Field({ nullable: true, description: 'Full-text search over name, tags and description, ranked by relevance.' })
  search?: string;

  @Field(() => [String], { nullable: true, description: 'Tools carrying every one of these tags.' })
  tags?: string[];

  @Field({ nullable: true, description: 'Name of the provider.' })
  provider?: string;

  @Field(() => CallTemplateType, { nullable: true })
  callTemplateType?: CallTemplateType;

  @Field({ nullable: true })
  enabled?: boolean;

  @Field(() => [ToolStatus], { nullable: true, description: 'Tools in any of these states; by default all but REMOVED.' })
  status?: ToolStatus[];
}

registerEnumType(CatalogChangeKind, { name: 'CatalogChangeKind', description: 'What happened to a tool.' });

/** A change of the catalog, for `catalogChanged` subscribers who may read the tool. */
@ObjectType('CatalogChange')
export class CatalogChangeNode {
  @Field(() => CatalogChangeKind)
  kind!: CatalogChangeKind;

  @Field({ description: 'Name of the tool (`provider.tool`).' })
  toolName!: string;

  @Field(() => ToolNode, { description: 'The tool as it is now (after the change).' })
  tool!: ToolNode;
}

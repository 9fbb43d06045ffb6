import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { UserError } from '../../common/user-error.types.js';
import { ProviderNode } from '../provider/provider.types.js';

/** A provider variable as the API shows it: a secret one never with its value. */
@ObjectType('ProviderVariable', { description: 'A value for a variable (`$NAME`, `${NAME}`) the provider’s manual refers to.' })
export class ProviderVariableNode {
  @Field({ description: 'The name as the manual writes it, without `$` (`NEWS_API_KEY`).' })
  name!: string;

  @Field({ description: 'Whether the value is kept in the vault; a secret value is never returned.' })
  secret!: boolean;

  @Field(() => String, { nullable: true, description: 'The value of a plain variable; null for a secret one.' })
  value?: string | null;

  @Field()
  updatedAt!: Date;
}

@InputType({ description: 'A variable to create or replace.' })
export class ProviderVariableInput {
  @Field({ description: 'Letters, digits and `_`, as the manual writes it without `$` (`NEWS_API_KEY`).' })
  name!: string;

  @Field({ description: 'At most 16,384 characters; never returned when secret.' })
  value!: string;

  @Field({ defaultValue: true, description: 'Keep the value in the vault and never return it (the default).' })
  secret!: boolean;
}

@InputType({ description: 'Variables of a provider to set and to remove (its owner or an admin).' })
export class SetProviderVariablesInput {
  @Field(() => ID)
  providerId!: string;

  @Field(() => [ProviderVariableInput], { defaultValue: [], description: 'Created, or replaced when the name is set.' })
  variables!: ProviderVariableInput[];

  @Field(() => [String], { defaultValue: [], description: 'Names to remove; names that are not set are ignored.' })
  remove!: string[];
}

@ObjectType()
export class SetProviderVariablesPayload {
  @Field(() => ProviderNode, { nullable: true })
  provider?: ProviderNode | null;

  @Field(() => [ProviderVariableNode], { nullable: true, description: 'Every variable of the provider after the change.' })
  variables?: ProviderVariableNode[] | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

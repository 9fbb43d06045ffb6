import { Directive, Field, ObjectType } from 'type-graphql';

/** An expected problem with a mutation's input, reported in its payload; shareable with other subgraphs. */
@Directive('@shareable')
@ObjectType('UserError')
export class UserError {
  @Field(() => [String], { description: 'Path of the input field at fault, when there is one.' })
  field!: string[];

  @Field()
  message!: string;

  @Field({ description: 'Stable code (ErrorCode).' })
  code!: string;
}

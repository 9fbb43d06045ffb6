import { GraphQLJSON } from 'graphql-scalars';
import { Directive, Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { UserError } from '../../common/user-error.types.js';
import { connectionTypes } from '../../common/connection.types.js';
import { CallTemplateType, ProviderStatus, RequestSigning } from './provider.entity.js';

registerEnumType(CallTemplateType, { name: 'CallTemplateType', description: 'UTCP 1.1 call template types.' });
registerEnumType(ProviderStatus, { name: 'ProviderStatus' });
registerEnumType(RequestSigning, {
  name: 'RequestSigning',
  description: 'Whether the registry signs this provider’s calls with HTTP Message Signatures (RFC 9421).',
  valuesConfig: {
    OFF: { description: 'Calls are not signed.' },
    SIGN: {
      description:
        'http, sse, streamable_http and graphql calls (and WebSocket upgrades) carry Signature-Input/Signature; WebSocket messages travel in a signed envelope. Keys: /.well-known/request-signing-keys.json.',
    },
  },
});

/** The last TLS connection to a provider that presented none of its pinned keys. */
@ObjectType('TlsPinFailure')
export class TlsPinFailureNode {
  @Field()
  at!: Date;

  @Field({ description: 'The host whose certificate chain did not match.' })
  host!: string;
}

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

  @Field(() => [String], { description: 'SPKI SHA-256 pins (base64): every TLS connection to the provider must present a chain holding one of these keys. Empty: no pinning.' })
  tlsPins!: string[];

  @Field(() => RequestSigning)
  requestSigning!: RequestSigning;

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

/** What a provider's stored credential shows: never the secret. */
@ObjectType('ProviderCredential')
export class ProviderCredentialNode {
  @Field()
  reference!: string;

  @Field()
  authType!: string;

  @Field(() => String, { nullable: true, description: 'api_key: the header, query parameter or cookie name.' })
  varName?: string | null;

  @Field(() => String, { nullable: true, description: 'api_key: header, query or cookie.' })
  location?: string | null;

  @Field({ description: 'The secret’s last 4 characters behind bullets, when it is long enough.' })
  hint!: string;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  rotatedAt?: Date | null;
}

@InputType({ description: 'Authentication for a provider, instead of an `auth` block in its call template. Secrets go into the vault.' })
export class ProviderCredentialInput {
  @Field({ description: 'api_key, basic or oauth2.' })
  authType!: string;

  @Field(() => String, { nullable: true })
  apiKey?: string | null;

  @Field(() => String, { nullable: true, description: 'api_key: header, query parameter or cookie name (default X-Api-Key).' })
  varName?: string | null;

  @Field(() => String, { nullable: true, description: 'api_key: header, query or cookie (default header).' })
  location?: string | null;

  @Field(() => String, { nullable: true })
  username?: string | null;

  @Field(() => String, { nullable: true })
  password?: string | null;

  @Field(() => String, { nullable: true })
  tokenUrl?: string | null;

  @Field(() => String, { nullable: true })
  clientId?: string | null;

  @Field(() => String, { nullable: true })
  clientSecret?: string | null;

  @Field(() => String, { nullable: true })
  scope?: string | null;
}

@InputType({ description: 'A UTCP 1.1 manual call template under a new provider name.' })
export class RegisterProviderInput {
  @Field({ description: 'Letters, digits and `_`; prefixes the names of its tools.' })
  name!: string;

  @Field(() => GraphQLJSON, {
    description: 'The call template (`call_template_type`, `url`, …). Literal secrets in `auth` are moved into the vault.',
  })
  callTemplate!: Record<string, unknown>;

  @Field(() => ProviderCredentialInput, { nullable: true })
  credential?: ProviderCredentialInput | null;

  @Field(() => [String], { nullable: true, description: 'SPKI SHA-256 pins (base64, at most 8; several while rotating). Discovery is pinned too.' })
  tlsPins?: string[] | null;

  @Field(() => RequestSigning, { nullable: true, description: 'Default OFF.' })
  requestSigning?: RequestSigning | null;
}

@InputType({ description: 'A provider’s TLS pins and request signing; omitted fields stay as they are.' })
export class SetProviderTransportSecurityInput {
  @Field(() => ID)
  id!: string;

  @Field(() => [String], { nullable: true, description: 'The complete new pin set (replaces the old one); [] turns pinning off.' })
  tlsPins?: string[] | null;

  @Field(() => RequestSigning, { nullable: true })
  requestSigning?: RequestSigning | null;
}

@InputType()
export class ProviderIdInput {
  @Field(() => ID)
  id!: string;
}

/** A registration's or refresh's outcome. */
@ObjectType()
export class ProviderChangePayload {
  @Field(() => ProviderNode, { nullable: true })
  provider?: ProviderNode | null;

  @Field(() => [String], { description: 'Tools added.' })
  created!: string[];

  @Field(() => [String], { description: 'Tools whose change was applied (additive, or first discovery).' })
  updated!: string[];

  @Field(() => [String], { description: 'Tools whose change waits for approval; not callable until then.' })
  quarantined!: string[];

  @Field(() => [String], { description: 'Tools the provider no longer lists.' })
  removed!: string[];

  @Field(() => [String])
  restored!: string[];

  @Field(() => [String], { description: 'Migrations, skipped operations, variables nobody provided.' })
  warnings!: string[];

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@InputType({ description: 'The name of a removed provider to release.' })
export class ReleaseProviderNameInput {
  @Field()
  name!: string;
}

/** What releasing a name did, and which policies the next owner's tools would meet. */
@ObjectType()
export class ReleaseProviderNamePayload {
  @Field(() => ProviderNode, { nullable: true, description: 'The removed provider, kept until the name is registered again.' })
  provider?: ProviderNode | null;

  @Field(() => [String], {
    description: 'Policies naming the provider or its tools: they apply to the next owner’s tools once an admin approves them.',
  })
  policies!: string[];

  @Field(() => [UserError])
  userErrors!: UserError[];
}

@ObjectType()
export class ProviderPayload {
  @Field(() => ProviderNode, { nullable: true })
  provider?: ProviderNode | null;

  @Field(() => [UserError])
  userErrors!: UserError[];
}

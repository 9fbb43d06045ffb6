export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** A date-time string at UTC, such as 2007-12-03T10:15:30Z, compliant with the `date-time` format outlined in section 5.6 of the RFC 3339 profile of the ISO 8601 standard for representation of dates and times using the Gregorian calendar.This scalar is serialized to a string in ISO 8601 format and parsed from a string in ISO 8601 format. */
  DateTimeISO: { input: string; output: string; }
  /** The `JSON` scalar type represents JSON values as specified by [ECMA-404](http://www.ecma-international.org/publications/files/ECMA-ST/ECMA-404.pdf). */
  JSON: { input: unknown; output: unknown; }
  _Any: { input: unknown; output: unknown; }
  federation__FieldSet: { input: string; output: string; }
  federation__Policy: { input: string; output: string; }
  federation__Scope: { input: string; output: string; }
  link__Import: { input: unknown; output: unknown; }
};

export type ApproveToolVersionInput = {
  toolId: Scalars['ID']['input'];
  version: Scalars['Int']['input'];
};

export type AuditEntry = {
  action: Scalars['String']['output'];
  /** Principal id; null for the registry itself. */
  actorId?: Maybe<Scalars['String']['output']>;
  at: Scalars['DateTimeISO']['output'];
  details: Scalars['JSON']['output'];
  hash: Scalars['String']['output'];
  outcome: AuditOutcome;
  prevHash: Scalars['String']['output'];
  requestId?: Maybe<Scalars['String']['output']>;
  /** Sequence number: the order of the chain. */
  seq: Scalars['ID']['output'];
  sourceIp?: Maybe<Scalars['String']['output']>;
  targetId?: Maybe<Scalars['String']['output']>;
  targetType: Scalars['String']['output'];
};

export type AuditEntryConnection = {
  edges: Array<AuditEntryEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type AuditEntryEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: AuditEntry;
};

/** Narrows the audit log; all given criteria must hold. */
export type AuditLogFilter = {
  action?: InputMaybe<Scalars['String']['input']>;
  actorId?: InputMaybe<Scalars['String']['input']>;
  outcome?: InputMaybe<AuditOutcome>;
  targetId?: InputMaybe<Scalars['String']['input']>;
  targetType?: InputMaybe<Scalars['String']['input']>;
};

export type AuditOutcome =
  | 'DENIED'
  | 'FAILURE'
  | 'SUCCESS';

export type AuditVerification = {
  /** Entries checked before the first broken one (or all). */
  checked: Scalars['Int']['output'];
  /** Sequence number of the first entry whose hashes do not match. */
  firstBrokenSeq?: Maybe<Scalars['ID']['output']>;
  valid: Scalars['Boolean']['output'];
};

/** UTCP 1.1 call template types. */
export type CallTemplateType =
  | 'CLI'
  | 'FILE'
  | 'GRAPHQL'
  | 'HTTP'
  | 'MCP'
  | 'SSE'
  | 'STREAMABLE_HTTP'
  | 'TEXT'
  | 'WEBSOCKET';

export type CreatePrincipalInput = {
  kind: PrincipalKind;
  name: Scalars['String']['input'];
  /** viewer, agent, publisher, policy_admin, admin */
  roles?: InputMaybe<Array<Scalars['String']['input']>>;
  scopes?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** One call of a tool through the registry. */
export type Execution = {
  /** Arguments of the call, with secret values redacted. */
  arguments: Scalars['JSON']['output'];
  createdAt: Scalars['DateTimeISO']['output'];
  durationMs?: Maybe<Scalars['Int']['output']>;
  error?: Maybe<ExecutionError>;
  finishedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  id: Scalars['ID']['output'];
  mode: ExecutionMode;
  /** Whether the result matched the tool's output schema. */
  outputValid?: Maybe<Scalars['Boolean']['output']>;
  result?: Maybe<Scalars['JSON']['output']>;
  startedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  status: ExecutionStatus;
  /** Name of the tool at the time of the call. */
  toolName: Scalars['String']['output'];
};

export type ExecutionError = {
  code: Scalars['String']['output'];
  message: Scalars['String']['output'];
};

export type ExecutionMode =
  | 'ASYNC'
  | 'SYNC';

export type ExecutionStatus =
  | 'CANCELLED'
  | 'DENIED'
  | 'FAILED'
  | 'QUEUED'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'TIMED_OUT';

export type Me = {
  principal: Principal;
  /** Scopes of this request: the token’s, within what the principal holds. */
  scopes: Array<Scalars['String']['output']>;
};

export type Mutation = {
  /** Releases a quarantined tool’s pending version (admin). */
  approveToolVersion: ToolPayload;
  /** Creates a principal with client credentials (admin). */
  createPrincipal: PrincipalSecretPayload;
  /** Discovers the provider’s tools again; changed tools are quarantined (owner or admin). */
  refreshProvider: ProviderChangePayload;
  /** Registers a provider and discovers its tools (providers:write). */
  registerProvider: ProviderChangePayload;
  /** Retires a provider: its tools are removed, its credentials deleted (owner or admin). */
  removeProvider: ProviderPayload;
  /** Revokes all of a principal's tokens at once: an admin for anyone, others for themselves. */
  revokeTokens: RevokeTokensPayload;
  /** Replaces a principal's client secret (admin). */
  rotatePrincipalSecret: PrincipalSecretPayload;
  /** Enables or disables a tool (its provider’s owner, or an admin). */
  setToolEnabled: ToolPayload;
};


export type MutationApproveToolVersionArgs = {
  input: ApproveToolVersionInput;
};


export type MutationCreatePrincipalArgs = {
  input: CreatePrincipalInput;
};


export type MutationRefreshProviderArgs = {
  input: ProviderIdInput;
};


export type MutationRegisterProviderArgs = {
  input: RegisterProviderInput;
};


export type MutationRemoveProviderArgs = {
  input: ProviderIdInput;
};


export type MutationRevokeTokensArgs = {
  input: PrincipalIdInput;
};


export type MutationRotatePrincipalSecretArgs = {
  input: PrincipalIdInput;
};


export type MutationSetToolEnabledArgs = {
  input: SetToolEnabledInput;
};

export type PageInfo = {
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  hasPreviousPage: Scalars['Boolean']['output'];
  startCursor?: Maybe<Scalars['String']['output']>;
};

export type Principal = {
  /** OAuth 2 client id for the client-credentials grant. */
  clientId?: Maybe<Scalars['String']['output']>;
  /** Query-cost points per hour; null means the registry's default. */
  costBudgetPerHour?: Maybe<Scalars['Int']['output']>;
  createdAt: Scalars['DateTimeISO']['output'];
  id: Scalars['ID']['output'];
  kind: PrincipalKind;
  name: Scalars['String']['output'];
  roles: Array<Scalars['String']['output']>;
  /** Scopes granted directly, besides those of the roles. */
  scopes: Array<Scalars['String']['output']>;
  status: PrincipalStatus;
};

export type PrincipalIdInput = {
  principalId: Scalars['ID']['input'];
};

export type PrincipalKind =
  | 'AGENT'
  | 'SERVICE'
  | 'USER';

export type PrincipalSecretPayload = {
  /** Shown once; store it now. Only its hash is kept. */
  clientSecret?: Maybe<Scalars['String']['output']>;
  principal?: Maybe<Principal>;
  userErrors: Array<UserError>;
};

export type PrincipalStatus =
  | 'ACTIVE'
  | 'DISABLED';

/** A source of tools: a UTCP manual, OpenAPI document or MCP server. */
export type Provider = {
  callTemplateType: CallTemplateType;
  createdAt: Scalars['DateTimeISO']['output'];
  /** The stored auth, redacted (providers:write). */
  credential?: Maybe<ProviderCredential>;
  id: Scalars['ID']['output'];
  lastDiscoveredAt?: Maybe<Scalars['DateTimeISO']['output']>;
  /** Why the last discovery failed, when it did. */
  lastError?: Maybe<Scalars['String']['output']>;
  /** Unique name; prefixes the names of its tools. */
  name: Scalars['String']['output'];
  status: ProviderStatus;
  /** This provider's tools. */
  tools: ToolConnection;
  updatedAt: Scalars['DateTimeISO']['output'];
};


/** A source of tools: a UTCP manual, OpenAPI document or MCP server. */
export type ProviderToolsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<ToolFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type ProviderChangePayload = {
  /** Tools added. */
  created: Array<Scalars['String']['output']>;
  provider?: Maybe<Provider>;
  /** Tools whose change waits for approval; not callable until then. */
  quarantined: Array<Scalars['String']['output']>;
  /** Tools the provider no longer lists. */
  removed: Array<Scalars['String']['output']>;
  restored: Array<Scalars['String']['output']>;
  /** Tools whose change was applied (additive, or first discovery). */
  updated: Array<Scalars['String']['output']>;
  userErrors: Array<UserError>;
  /** Migrations, skipped operations, variables nobody provided. */
  warnings: Array<Scalars['String']['output']>;
};

export type ProviderConnection = {
  edges: Array<ProviderEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type ProviderCredential = {
  authType: Scalars['String']['output'];
  createdAt: Scalars['DateTimeISO']['output'];
  /** The secret’s last 4 characters behind bullets, when it is long enough. */
  hint: Scalars['String']['output'];
  /** api_key: header, query or cookie. */
  location?: Maybe<Scalars['String']['output']>;
  reference: Scalars['String']['output'];
  rotatedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  /** api_key: the header, query parameter or cookie name. */
  varName?: Maybe<Scalars['String']['output']>;
};

/** Authentication for a provider, instead of an `auth` block in its call template. Secrets go into the vault. */
export type ProviderCredentialInput = {
  apiKey?: InputMaybe<Scalars['String']['input']>;
  /** api_key, basic or oauth2. */
  authType: Scalars['String']['input'];
  clientId?: InputMaybe<Scalars['String']['input']>;
  clientSecret?: InputMaybe<Scalars['String']['input']>;
  /** api_key: header, query or cookie (default header). */
  location?: InputMaybe<Scalars['String']['input']>;
  password?: InputMaybe<Scalars['String']['input']>;
  scope?: InputMaybe<Scalars['String']['input']>;
  tokenUrl?: InputMaybe<Scalars['String']['input']>;
  username?: InputMaybe<Scalars['String']['input']>;
  /** api_key: header, query parameter or cookie name (default X-Api-Key). */
  varName?: InputMaybe<Scalars['String']['input']>;
};

export type ProviderEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: Provider;
};

export type ProviderIdInput = {
  id: Scalars['ID']['input'];
};

export type ProviderPayload = {
  provider?: Maybe<Provider>;
  userErrors: Array<UserError>;
};

export type ProviderStatus =
  | 'ACTIVE'
  | 'DISABLED'
  | 'ERROR';

export type Query = {
  _entities: Array<Maybe<_Entity>>;
  _service: _Service;
  /** The audit log, newest first (audit:read). */
  auditLog: AuditEntryConnection;
  /** The caller. */
  me: Me;
  provider?: Maybe<Provider>;
  /** Providers ordered by name, a page at a time. */
  providers: ProviderConnection;
  /** The tool with this name (`provider.tool`), if any. */
  tool?: Maybe<Tool>;
  /** The catalog, a page at a time (at most 100 per page). */
  tools: ToolConnection;
  /** Recomputes the hash chain and names the first broken entry (admin). */
  verifyAuditLog: AuditVerification;
};


export type Query_EntitiesArgs = {
  representations: Array<Scalars['_Any']['input']>;
};


export type QueryAuditLogArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AuditLogFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryProviderArgs = {
  id: Scalars['ID']['input'];
};


export type QueryProvidersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryToolArgs = {
  name: Scalars['String']['input'];
};


export type QueryToolsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<ToolFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

/** A UTCP 1.1 manual call template under a new provider name. */
export type RegisterProviderInput = {
  /** The call template (`call_template_type`, `url`, …). Literal secrets in `auth` are moved into the vault. */
  callTemplate: Scalars['JSON']['input'];
  credential?: InputMaybe<ProviderCredentialInput>;
  /** Letters, digits and `_`; prefixes the names of its tools. */
  name: Scalars['String']['input'];
};

export type RevokeTokensPayload = {
  principal?: Maybe<Principal>;
  /** Tokens issued up to this instant no longer work. */
  revokedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  userErrors: Array<UserError>;
};

export type SetToolEnabledInput = {
  enabled: Scalars['Boolean']['input'];
  toolId: Scalars['ID']['input'];
};

/** A tool an agent can call, named `provider.tool`. */
export type Tool = {
  /** Typical size of a response, in bytes, as the provider states it. */
  averageResponseSize?: Maybe<Scalars['Int']['output']>;
  /** The protocol the registry uses to call this tool. */
  callTemplateType: CallTemplateType;
  createdAt: Scalars['DateTimeISO']['output'];
  /** sha-256 of the name, description, schemas and call template of this version. */
  definitionHash: Scalars['String']['output'];
  description: Scalars['String']['output'];
  enabled: Scalars['Boolean']['output'];
  id: Scalars['ID']['output'];
  /** JSON Schema of the arguments. */
  inputs?: Maybe<Scalars['JSON']['output']>;
  /** Unique name: `provider.tool`. */
  name: Scalars['String']['output'];
  /** JSON Schema of the result. */
  outputs?: Maybe<Scalars['JSON']['output']>;
  provider: Provider;
  /** A changed definition awaits approval; the tool may not be called. */
  quarantined: Scalars['Boolean']['output'];
  status: ToolStatus;
  tags: Array<Scalars['String']['output']>;
  updatedAt: Scalars['DateTimeISO']['output'];
  /** Increases each time the definition changes. */
  version: Scalars['Int']['output'];
  /** Every definition the tool has had, newest first. */
  versions: Array<ToolVersion>;
};

export type ToolConnection = {
  edges: Array<ToolEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type ToolEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: Tool;
};

/** Narrows a tool listing; all given criteria must hold. */
export type ToolFilter = {
  callTemplateType?: InputMaybe<CallTemplateType>;
  enabled?: InputMaybe<Scalars['Boolean']['input']>;
  /** Name of the provider. */
  provider?: InputMaybe<Scalars['String']['input']>;
  /** Full-text search over name, tags and description, ranked by relevance. */
  search?: InputMaybe<Scalars['String']['input']>;
  /** Tools in any of these states; by default all but REMOVED. */
  status?: InputMaybe<Array<ToolStatus>>;
  /** Tools carrying every one of these tags. */
  tags?: InputMaybe<Array<Scalars['String']['input']>>;
};

export type ToolPayload = {
  tool?: Maybe<Tool>;
  userErrors: Array<UserError>;
};

/** Whether a tool may be called or awaits approval. */
export type ToolStatus =
  | 'ACTIVE'
  | 'QUARANTINED'
  | 'REMOVED';

export type ToolVersion = {
  createdAt: Scalars['DateTimeISO']['output'];
  decidedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  /** description, inputs, outputs, tags and call template of this version. */
  definition: Scalars['JSON']['output'];
  definitionHash: Scalars['String']['output'];
  status: ToolVersionStatus;
  version: Scalars['Int']['output'];
};

export type ToolVersionStatus =
  | 'APPROVED'
  | 'PENDING'
  | 'REJECTED';

export type UserError = {
  /** Stable code (ErrorCode). */
  code: Scalars['String']['output'];
  /** Path of the input field at fault, when there is one. */
  field: Array<Scalars['String']['output']>;
  message: Scalars['String']['output'];
};

export type _Entity = Execution | Provider | Tool;

export type _Service = {
  sdl?: Maybe<Scalars['String']['output']>;
};

export type Link__Purpose =
  /** `EXECUTION` features provide metadata necessary for operation execution. */
  | 'EXECUTION'
  /** `SECURITY` features provide metadata necessary to securely resolve fields. */
  | 'SECURITY';

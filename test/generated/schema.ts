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

export type AccessExplanation = {
  allowed: Scalars['Boolean']['output'];
  /** The policy that decided; null under the default deny. */
  decidingPolicy?: Maybe<Policy>;
  /** Every policy considered, highest priority first. */
  evaluations: Array<PolicyEvaluation>;
  /** One sentence: the outcome and the policy that decided it. */
  reason: Scalars['String']['output'];
};

export type AlertRule = {
  /** Rate rules: the lowest alert level a usual rate can set. */
  baselineFloor?: Maybe<Scalars['Int']['output']>;
  /** Rate rules: windows a principal must have been seen in (of the latest 30 kept) before its usual rate replaces `threshold`. */
  baselineMinWindows?: Maybe<Scalars['Int']['output']>;
  /** Rate rules: once a principal has a usual rate, the alert is raised at this multiple of it (or at `baselineFloor`, whichever is higher). Null for the other rules. */
  baselineMultiple?: Maybe<Scalars['Float']['output']>;
  enabled: Scalars['Boolean']['output'];
  name: AlertRuleName;
  /** Events in one window that raise the alert (for a rate rule: until the principal has a usual rate). */
  threshold: Scalars['Int']['output'];
  updatedAt: Scalars['DateTimeISO']['output'];
  windowSeconds: Scalars['Int']['output'];
};

/** A behaviour the registry watches for (see README "Security alerts"). */
export type AlertRuleName =
  /** Failed authentications per source address and per client id, in a window. */
  | 'AUTH_FAILURES'
  /** Tool calls of one principal in a window, against its own usual rate once it has one. */
  | 'CALL_RATE'
  /** Refusals of one principal (policy denials, limits, missing scopes, unknown tools) in a window, against its own usual rate once it has one. */
  | 'DENIAL_RATE'
  /** Tools one principal called for the first time, in a window. */
  | 'NEW_TOOLS'
  /** Calls at an hour of the day (UTC) at which the principal has not been calling, in a window. */
  | 'OFF_HOURS'
  /** Tool calls whose arguments carry a secret-shaped string (API key, JWT, private key, AWS key), in a window. */
  | 'SECRET_ARGUMENT';

export type ApproveToolVersionInput = {
  toolId: Scalars['ID']['input'];
  version: Scalars['Int']['input'];
};

export type AuditCheckpoint = {
  /** When it was signed. */
  at: Scalars['DateTimeISO']['output'];
  /** Entries up to `seq`. */
  count: Scalars['Int']['output'];
  /** That entry's hash. */
  hash: Scalars['String']['output'];
  /** The checkpoint as a compact JWS (`typ: audit-checkpoint+jwt`; claims `iss`, `iat`, `seq`, `hash`, `count`). */
  jws: Scalars['String']['output'];
  /** `kid` of the signing key. */
  keyId: Scalars['String']['output'];
  /** Sequence number of the newest entry when it was taken. */
  seq: Scalars['ID']['output'];
};

export type AuditCheckpointConnection = {
  edges: Array<AuditCheckpointEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type AuditCheckpointEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: AuditCheckpoint;
};

export type AuditEntry = {
  action: Scalars['String']['output'];
  /** Principal id; null for the registry itself. */
  actorId?: Maybe<Scalars['String']['output']>;
  /** The name of the principal that acted; null for the registry itself or a principal since deleted. */
  actorName?: Maybe<Scalars['String']['output']>;
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
  /** The name of the target when it is a tool, provider, policy or principal that still exists (a tool call names its tool even after); else null. */
  targetName?: Maybe<Scalars['String']['output']>;
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

export type AuditProblem = {
  kind: AuditProblemKind;
  message: Scalars['String']['output'];
  /** Where: the first missing, broken or truncated-after sequence number. */
  seq?: Maybe<Scalars['ID']['output']>;
};

/** What kind of damage `verifyAuditLog` found. */
export type AuditProblemKind =
  /** An entry's content no longer matches its hash, or it does not link to the entry before it. */
  | 'BROKEN_LINK'
  /** A stored checkpoint's signature does not verify, or its row does not say what it signed. */
  | 'CHECKPOINT_INVALID'
  /** The entry at a checkpoint's sequence number is not the one it signed, or the count differs. */
  | 'CHECKPOINT_MISMATCH'
  /** Entries were removed from the middle of the log, or the entry a checkpoint names is gone. */
  | 'MISSING_ENTRIES'
  /** The newest entries are gone: a checkpoint covers sequence numbers past the last entry left. */
  | 'TRUNCATED';

export type AuditVerification = {
  /** Entries checked before the first broken one (or all). */
  checked: Scalars['Int']['output'];
  /** The newest checkpoint the log still matches (stored, or the one passed in); null when none. */
  checkpoint?: Maybe<AuditCheckpoint>;
  /** Seconds since `checkpoint` was signed. */
  checkpointAgeSeconds?: Maybe<Scalars['Int']['output']>;
  /** Stored checkpoints checked. */
  checkpointsChecked: Scalars['Int']['output'];
  /** Entries read. */
  entries: Scalars['Int']['output'];
  /** Sequence number of the first entry whose hashes do not match. */
  firstBrokenSeq?: Maybe<Scalars['ID']['output']>;
  /** The first sequence number missing between entries. A gap the chain links across intact is an append rolled back before sequence numbers were gapless, not a deletion. */
  firstMissingSeq?: Maybe<Scalars['ID']['output']>;
  /** Sequence number of the newest entry. */
  lastSeq?: Maybe<Scalars['ID']['output']>;
  /** Every problem found, in sequence order. */
  problems: Array<AuditProblem>;
  /** The verdict in a sentence: what is wrong, or how much of the log is anchored. */
  summary: Scalars['String']['output'];
  /** A checkpoint covers entries past the newest one left: the newest entries were removed. */
  truncated: Scalars['Boolean']['output'];
  /** When truncated: the last entry left; the entries after it are missing. */
  truncatedAfterSeq?: Maybe<Scalars['ID']['output']>;
  /** Entries newer than `checkpoint` (all of them without one): what a truncation could remove unnoticed. */
  unanchoredEntries: Scalars['Int']['output'];
  /** No problem found. */
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

export type CatalogChange = {
  kind: CatalogChangeKind;
  /** The tool as it is now (after the change). */
  tool: Tool;
  /** Name of the tool (`provider.tool`). */
  toolName: Scalars['String']['output'];
};

/** What happened to a tool. */
export type CatalogChangeKind =
  | 'ADDED'
  | 'CHANGED'
  | 'QUARANTINED'
  | 'REMOVED';

export type CreateAuditCheckpointPayload = {
  checkpoint?: Maybe<AuditCheckpoint>;
  userErrors: Array<UserError>;
};

export type CreatePrincipalInput = {
  kind: PrincipalKind;
  name: Scalars['String']['input'];
  /** viewer, agent, publisher, policy_admin, admin */
  roles?: InputMaybe<Array<Scalars['String']['input']>>;
  scopes?: InputMaybe<Array<Scalars['String']['input']>>;
};

export type DeletePolicyInput = {
  id: Scalars['ID']['input'];
};

export type ExecuteToolInput = {
  /** The call's arguments: a JSON object matching the tool's input schema. */
  arguments: Scalars['JSON']['input'];
  /** Retries with the same key (from the same principal) return the first execution instead of calling again. */
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  /** SYNC (default) answers when the call ended; ASYNC answers at once with the execution, already claimed and running (follow it with `execution` or `executionUpdated`). */
  mode?: InputMaybe<ExecutionMode>;
  /** Deadline of the call in milliseconds (default and maximum are configured). */
  timeoutMs?: InputMaybe<Scalars['Int']['input']>;
  /** The tool, by name (`provider.tool`). */
  tool: Scalars['String']['input'];
};

/** One call of a tool through the registry. */
export type Execution = {
  /** Arguments of the call, with secret values redacted. */
  arguments: Scalars['JSON']['output'];
  /** How many times the call was started (an interrupted idempotent ASYNC call is retried). */
  attempts: Scalars['Int']['output'];
  createdAt: Scalars['DateTimeISO']['output'];
  /** The policy decision: `allowed`, `reason` and the deciding `policy`. */
  decision?: Maybe<Scalars['JSON']['output']>;
  durationMs?: Maybe<Scalars['Int']['output']>;
  error?: Maybe<ExecutionError>;
  finishedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  id: Scalars['ID']['output'];
  idempotencyKey?: Maybe<Scalars['String']['output']>;
  mode: ExecutionMode;
  /** Whether the result matched the tool's output schema. */
  outputValid?: Maybe<Scalars['Boolean']['output']>;
  /** Who made the call. */
  principal?: Maybe<Principal>;
  result?: Maybe<Scalars['JSON']['output']>;
  startedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  status: ExecutionStatus;
  /** Name of the tool at the time of the call. */
  toolName: Scalars['String']['output'];
};

export type ExecutionConnection = {
  edges: Array<ExecutionEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type ExecutionEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: Execution;
};

export type ExecutionError = {
  code: Scalars['String']['output'];
  /** Structured details: `errors` (with JSON paths) for invalid arguments, `retryAfterSeconds` for limits, `reason`. */
  details?: Maybe<Scalars['JSON']['output']>;
  message: Scalars['String']['output'];
};

export type ExecutionFilter = {
  /** Principal id (audit:read only; others always see their own). */
  principal?: InputMaybe<Scalars['ID']['input']>;
  status?: InputMaybe<Array<ExecutionStatus>>;
  /** Tool name. */
  tool?: InputMaybe<Scalars['String']['input']>;
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

/** A change of an execution: its state, and a streamed part of its result when one arrived. */
export type ExecutionUpdate = {
  chunk?: Maybe<Scalars['JSON']['output']>;
  execution: Execution;
};

export type Me = {
  principal: Principal;
  /** Scopes of this request: the token’s, within what the principal holds. */
  scopes: Array<Scalars['String']['output']>;
};

export type Mutation = {
  /** Releases a quarantined tool’s pending version (admin, and an `admin` policy on the tool). */
  approveToolVersion: ToolPayload;
  /** Stops a queued or running call (its principal, or an admin). */
  cancelExecution: Execution;
  /** Signs a checkpoint of the audit chain's head now, stores it and logs it (admin). */
  createAuditCheckpoint: CreateAuditCheckpointPayload;
  /** Creates a policy (policies:write). */
  createPolicy: PolicyPayload;
  /** Creates a principal with client credentials (admin). */
  createPrincipal: PrincipalSecretPayload;
  /** Deletes a policy no other policy inherits from (policies:write). */
  deletePolicy: PolicyPayload;
  /** Calls a tool (tools:execute): policy, argument validation, limits, the provider call and the record of it. SYNC answers when the call ended; ASYNC at once. */
  executeTool: Execution;
  /** Discovers the provider’s tools again; changed tools are quarantined (owner or admin). */
  refreshProvider: ProviderChangePayload;
  /** Registers a provider and discovers its tools (providers:write). */
  registerProvider: ProviderChangePayload;
  /** Releases the name of a removed provider (admin). Until then only its former owner may register the name again; after it, the next registration replaces the old provider and its tools start quarantined. */
  releaseProviderName: ReleaseProviderNamePayload;
  /** Retires a provider: its tools are removed, its credentials deleted (owner or admin). */
  removeProvider: ProviderPayload;
  /** Revokes all of a principal's tokens at once: an admin for anyone, others for themselves. */
  revokeTokens: RevokeTokensPayload;
  /** Replaces a principal's client secret (admin). */
  rotatePrincipalSecret: PrincipalSecretPayload;
  /** Disables a principal (its tokens and client credentials are refused at once, on every replica) or enables it again (admin). */
  setPrincipalStatus: SetPrincipalStatusPayload;
  /** Sets a provider’s TLS pins and request signing (providers:write; owner or admin). */
  setProviderTransportSecurity: ProviderPayload;
  /** Sets and removes values of the variables a provider’s manual refers to; secret ones go into the vault (owner or admin). */
  setProviderVariables: SetProviderVariablesPayload;
  /** Enables or disables a tool (its provider’s owner, or an admin; and an `admin` policy on the tool). */
  setToolEnabled: ToolPayload;
  /** Turns an alert rule on or off, or changes its threshold or window; applies on every replica (admin). */
  updateAlertRule: UpdateAlertRulePayload;
  /** Replaces a policy's fields (policies:write). */
  updatePolicy: PolicyPayload;
};


export type MutationApproveToolVersionArgs = {
  input: ApproveToolVersionInput;
};


export type MutationCancelExecutionArgs = {
  id: Scalars['ID']['input'];
};


export type MutationCreatePolicyArgs = {
  input: PolicyInput;
};


export type MutationCreatePrincipalArgs = {
  input: CreatePrincipalInput;
};


export type MutationDeletePolicyArgs = {
  input: DeletePolicyInput;
};


export type MutationExecuteToolArgs = {
  input: ExecuteToolInput;
};


export type MutationRefreshProviderArgs = {
  input: ProviderIdInput;
};


export type MutationRegisterProviderArgs = {
  input: RegisterProviderInput;
};


export type MutationReleaseProviderNameArgs = {
  input: ReleaseProviderNameInput;
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


export type MutationSetPrincipalStatusArgs = {
  input: SetPrincipalStatusInput;
};


export type MutationSetProviderTransportSecurityArgs = {
  input: SetProviderTransportSecurityInput;
};


export type MutationSetProviderVariablesArgs = {
  input: SetProviderVariablesInput;
};


export type MutationSetToolEnabledArgs = {
  input: SetToolEnabledInput;
};


export type MutationUpdateAlertRuleArgs = {
  input: UpdateAlertRuleInput;
};


export type MutationUpdatePolicyArgs = {
  input: UpdatePolicyInput;
};

export type PageInfo = {
  endCursor?: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  hasPreviousPage: Scalars['Boolean']['output'];
  startCursor?: Maybe<Scalars['String']['output']>;
};

/** An access rule: the highest priority applying policy decides, deny wins ties. */
export type Policy = {
  actions: Array<PolicyAction>;
  active: Scalars['Boolean']['output'];
  conditions: PolicyConditions;
  createdAt: Scalars['DateTimeISO']['output'];
  description: Scalars['String']['output'];
  effect: PolicyEffect;
  id: Scalars['ID']['output'];
  limits: PolicyLimits;
  name: Scalars['String']['output'];
  /** The policy whose conditions this one inherits. */
  parentId?: Maybe<Scalars['ID']['output']>;
  priority: Scalars['Int']['output'];
  resources: PolicyResources;
  subjects: PolicySubjects;
  updatedAt: Scalars['DateTimeISO']['output'];
};

/** What a policy governs: seeing a tool, calling it, or administering it. */
export type PolicyAction =
  | 'ADMIN'
  | 'EXECUTE'
  | 'READ';

/** When the policy applies; every given condition must hold. */
export type PolicyConditions = {
  /** A JSON Schema the call's arguments must satisfy. */
  arguments?: Maybe<Scalars['JSON']['output']>;
  /** Client address in any of these CIDRs. */
  sourceCidrs?: Maybe<Array<Scalars['String']['output']>>;
  timeWindows?: Maybe<Array<PolicyTimeWindow>>;
};

export type PolicyConditionsInput = {
  /** A JSON Schema the call's arguments must satisfy. */
  arguments?: InputMaybe<Scalars['JSON']['input']>;
  /** Client address in any of these CIDRs. */
  sourceCidrs?: InputMaybe<Array<Scalars['String']['input']>>;
  timeWindows?: InputMaybe<Array<PolicyTimeWindowInput>>;
};

export type PolicyConnection = {
  edges: Array<PolicyEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type PolicyEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: Policy;
};

export type PolicyEffect =
  | 'ALLOW'
  | 'DENY';

/** How one policy fared: whether it matched (subjects, resources, action), applied (conditions held), and why. */
export type PolicyEvaluation = {
  applied: Scalars['Boolean']['output'];
  matched: Scalars['Boolean']['output'];
  name: Scalars['String']['output'];
  policyId: Scalars['ID']['output'];
  reasons: Array<Scalars['String']['output']>;
};

/** Every field of a policy; an update replaces them all. */
export type PolicyInput = {
  actions: Array<PolicyAction>;
  /** Default true. */
  active?: InputMaybe<Scalars['Boolean']['input']>;
  conditions?: InputMaybe<PolicyConditionsInput>;
  description?: InputMaybe<Scalars['String']['input']>;
  effect: PolicyEffect;
  limits?: InputMaybe<PolicyLimitsInput>;
  name: Scalars['String']['input'];
  /** A policy whose conditions this one inherits. */
  parentId?: InputMaybe<Scalars['ID']['input']>;
  /** Higher wins; default 0. */
  priority?: InputMaybe<Scalars['Int']['input']>;
  resources?: InputMaybe<PolicyResourcesInput>;
  subjects?: InputMaybe<PolicySubjectsInput>;
};

/** Calls per principal and tool: a rate per window and a quota per day or month. */
export type PolicyLimits = {
  quota?: Maybe<PolicyQuota>;
  rate?: Maybe<PolicyRateLimit>;
};

export type PolicyLimitsInput = {
  quota?: InputMaybe<PolicyQuotaInput>;
  rate?: InputMaybe<PolicyRateLimitInput>;
};

export type PolicyPayload = {
  policy?: Maybe<Policy>;
  userErrors: Array<UserError>;
};

export type PolicyQuota = {
  calls: Scalars['Int']['output'];
  period: QuotaPeriod;
};

export type PolicyQuotaInput = {
  calls: Scalars['Int']['input'];
  period: QuotaPeriod;
};

export type PolicyRateLimit = {
  calls: Scalars['Int']['output'];
  windowSeconds: Scalars['Int']['output'];
};

export type PolicyRateLimitInput = {
  calls: Scalars['Int']['input'];
  windowSeconds: Scalars['Int']['input'];
};

/** Tool name globs (`github.*`), tags and provider names; each given kind must match. */
export type PolicyResources = {
  providers?: Maybe<Array<Scalars['String']['output']>>;
  tags?: Maybe<Array<Scalars['String']['output']>>;
  tools?: Maybe<Array<Scalars['String']['output']>>;
};

export type PolicyResourcesInput = {
  providers?: InputMaybe<Array<Scalars['String']['input']>>;
  tags?: InputMaybe<Array<Scalars['String']['input']>>;
  tools?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** Principal ids and role names; either matches. Both empty: everyone. */
export type PolicySubjects = {
  principals?: Maybe<Array<Scalars['ID']['output']>>;
  roles?: Maybe<Array<Scalars['String']['output']>>;
};

export type PolicySubjectsInput = {
  principals?: InputMaybe<Array<Scalars['ID']['input']>>;
  roles?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** A weekly window: days, "HH:MM" from (inclusive) and to (exclusive), in an IANA time zone. */
export type PolicyTimeWindow = {
  /** Day names or their three-letter abbreviations (sunday, mon). Absent: every day. */
  days?: Maybe<Array<Scalars['String']['output']>>;
  from?: Maybe<Scalars['String']['output']>;
  timeZone: Scalars['String']['output'];
  to?: Maybe<Scalars['String']['output']>;
};

export type PolicyTimeWindowInput = {
  /** Day names or their three-letter abbreviations (sunday, mon). Absent: every day. */
  days?: InputMaybe<Array<Scalars['String']['input']>>;
  from?: InputMaybe<Scalars['String']['input']>;
  timeZone: Scalars['String']['input'];
  to?: InputMaybe<Scalars['String']['input']>;
};

/** An agent, user or service known to the registry (itself, admins and audit:read see it). */
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

export type PrincipalConnection = {
  edges: Array<PrincipalEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type PrincipalEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: Principal;
};

export type PrincipalFilter = {
  /** A part of the name or client id, case-insensitive. */
  search?: InputMaybe<Scalars['String']['input']>;
  status?: InputMaybe<PrincipalStatus>;
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
  /** Variables its tools refer to that no variable or credential provides yet: calls of those tools fail with VARIABLE_MISSING (providers:write; empty unless owner or admin). */
  missingVariables: Array<Scalars['String']['output']>;
  /** Unique name; prefixes the names of its tools. */
  name: Scalars['String']['output'];
  requestSigning: RequestSigning;
  status: ProviderStatus;
  /** The last connection (call or discovery) whose TLS chain held none of the pinned keys; cleared when the pins are set again. */
  tlsPinFailure?: Maybe<TlsPinFailure>;
  /** SPKI SHA-256 pins (base64): every TLS connection to the provider must present a chain holding one of these keys. Empty: no pinning. */
  tlsPins: Array<Scalars['String']['output']>;
  /** This provider's tools. */
  tools: ToolConnection;
  updatedAt: Scalars['DateTimeISO']['output'];
  /** The values set for the manual’s variables, secret ones without their value (providers:write; empty unless owner or admin). */
  variables: Array<ProviderVariable>;
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

/** A value for a variable (`$NAME`, `${NAME}`) the provider’s manual refers to. */
export type ProviderVariable = {
  /** The name as the manual writes it, without `$` (`NEWS_API_KEY`). */
  name: Scalars['String']['output'];
  /** Whether the value is kept in the vault; a secret value is never returned. */
  secret: Scalars['Boolean']['output'];
  updatedAt: Scalars['DateTimeISO']['output'];
  /** The value of a plain variable; null for a secret one. */
  value?: Maybe<Scalars['String']['output']>;
};

/** A variable to create or replace. */
export type ProviderVariableInput = {
  /** Letters, digits and `_`, as the manual writes it without `$` (`NEWS_API_KEY`). */
  name: Scalars['String']['input'];
  /** Keep the value in the vault and never return it (the default). */
  secret?: Scalars['Boolean']['input'];
  /** At most 16,384 characters; never returned when secret. */
  value: Scalars['String']['input'];
};

export type Query = {
  _entities: Array<Maybe<_Entity>>;
  _service: _Service;
  /** The alert rules with their thresholds and windows (admin). */
  alertRules: Array<AlertRule>;
  /** Signed checkpoints of the audit chain, newest first, to export (audit:read). */
  auditCheckpoints: AuditCheckpointConnection;
  /** The entry with this sequence number (audit:read). */
  auditEntry?: Maybe<AuditEntry>;
  /** The audit log, newest first (audit:read). */
  auditLog: AuditEntryConnection;
  /** An execution of the caller (any, with audit:read). */
  execution?: Maybe<Execution>;
  /** The caller's executions, newest first (everyone's, with audit:read). */
  executions: ExecutionConnection;
  /** Would this principal (default: the caller) be allowed this action on this tool, with these arguments, now and from the caller's address (or `sourceIp`)? Names the deciding policy and why each policy matched or not. Admins may ask for any principal, others only for themselves. */
  explainAccess: AccessExplanation;
  /** The caller. */
  me: Me;
  /** Every policy, highest priority first (policies:write). */
  policies: PolicyConnection;
  /** The policy with this id (policies:write). */
  policy?: Maybe<Policy>;
  /** Every principal, ordered by name, a page at a time (admin). */
  principals: PrincipalConnection;
  provider?: Maybe<Provider>;
  /** Providers ordered by name, a page at a time. */
  providers: ProviderConnection;
  /** The caller's hourly query budget after this operation was charged (the `x-ratelimit-*` headers, as data). */
  rateLimit: RateLimit;
  /** Security alerts, newest first (audit:read). */
  securityAlerts: SecurityAlertConnection;
  /** The tool with this name (`provider.tool`), if any. */
  tool?: Maybe<Tool>;
  /** The catalog, a page at a time (at most 100 per page). */
  tools: ToolConnection;
  /** A UTCP 1.1 manual of exactly the tools the caller may execute (tools:execute), each called through `POST /tools/{name}/call` on this registry with the bearer token the UTCP client knows as `REGISTRY_TOKEN`; the same document as `GET /utcp`. */
  utcpManual: Scalars['JSON']['output'];
  /** Recomputes the hash chain and checks it against every stored checkpoint and, when given, a checkpoint JWS kept outside the database: names broken links, gaps, truncation and rewrites (admin). */
  verifyAuditLog: AuditVerification;
};


export type Query_EntitiesArgs = {
  representations: Array<Scalars['_Any']['input']>;
};


export type QueryAuditCheckpointsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryAuditEntryArgs = {
  seq: Scalars['ID']['input'];
};


export type QueryAuditLogArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<AuditLogFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryExecutionArgs = {
  id: Scalars['ID']['input'];
};


export type QueryExecutionsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<ExecutionFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryExplainAccessArgs = {
  action: PolicyAction;
  arguments?: InputMaybe<Scalars['JSON']['input']>;
  principal?: InputMaybe<Scalars['ID']['input']>;
  sourceIp?: InputMaybe<Scalars['String']['input']>;
  tool: Scalars['String']['input'];
};


export type QueryPoliciesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryPolicyArgs = {
  id: Scalars['ID']['input'];
};


export type QueryPrincipalsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<PrincipalFilter>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QueryProviderArgs = {
  id: Scalars['ID']['input'];
};


export type QueryProvidersArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};


export type QuerySecurityAlertsArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  filter?: InputMaybe<SecurityAlertFilter>;
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


export type QueryVerifyAuditLogArgs = {
  checkpoint?: InputMaybe<Scalars['String']['input']>;
};

export type QuotaPeriod =
  | 'DAY'
  | 'MONTH';

/** The caller's hourly query budget, after this operation was charged. */
export type RateLimit = {
  /** Points this operation was charged. */
  cost: Scalars['Int']['output'];
  /** Points per hour. */
  limit: Scalars['Int']['output'];
  /** Points left in the current hour. */
  remaining: Scalars['Int']['output'];
  /** When the current hour ends and the budget is full again. */
  resetAt: Scalars['DateTimeISO']['output'];
  /** Points spent in the current hour, this operation included. */
  used: Scalars['Int']['output'];
};

/** A UTCP 1.1 manual call template under a new provider name. */
export type RegisterProviderInput = {
  /** The call template (`call_template_type`, `url`, …). Literal secrets in `auth` are moved into the vault. */
  callTemplate: Scalars['JSON']['input'];
  credential?: InputMaybe<ProviderCredentialInput>;
  /** Letters, digits and `_`; prefixes the names of its tools. */
  name: Scalars['String']['input'];
  /** Default OFF. */
  requestSigning?: InputMaybe<RequestSigning>;
  /** SPKI SHA-256 pins (base64, at most 8; several while rotating). Discovery is pinned too. */
  tlsPins?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** The name of a removed provider to release. */
export type ReleaseProviderNameInput = {
  name: Scalars['String']['input'];
};

export type ReleaseProviderNamePayload = {
  /** Policies naming the provider or its tools: they apply to the next owner’s tools once an admin approves them. */
  policies: Array<Scalars['String']['output']>;
  /** The removed provider, kept until the name is registered again. */
  provider?: Maybe<Provider>;
  userErrors: Array<UserError>;
};

/** Whether the registry signs this provider’s calls with HTTP Message Signatures (RFC 9421). */
export type RequestSigning =
  /** Calls are not signed. */
  | 'OFF'
  /** http, sse, streamable_http and graphql calls (and WebSocket upgrades) carry Signature-Input/Signature; WebSocket messages travel in a signed envelope. Keys: /.well-known/request-signing-keys.json. */
  | 'SIGN';

export type RevokeTokensPayload = {
  principal?: Maybe<Principal>;
  /** Tokens issued up to this instant no longer work. */
  revokedAt?: Maybe<Scalars['DateTimeISO']['output']>;
  userErrors: Array<UserError>;
};

export type SecurityAlert = {
  /** Events counted in the window when the alert was raised. */
  count: Scalars['Int']['output'];
  /** What was seen (tool names, kinds of secret, hours); never an argument value. */
  details: Scalars['JSON']['output'];
  id: Scalars['ID']['output'];
  /** The principal, when the subject is one. */
  principalId?: Maybe<Scalars['ID']['output']>;
  raisedAt: Scalars['DateTimeISO']['output'];
  rule: AlertRuleName;
  /** Who: `principal:<id>`, `address:<ip>` or `client:<client id>`. */
  subject: Scalars['String']['output'];
  threshold: Scalars['Int']['output'];
  windowSeconds: Scalars['Int']['output'];
  /** Start of the window the events were counted in. */
  windowStart: Scalars['DateTimeISO']['output'];
};

export type SecurityAlertConnection = {
  edges: Array<SecurityAlertEdge>;
  pageInfo: PageInfo;
  /** Number of items matching the listing, across all pages. */
  totalCount: Scalars['Int']['output'];
};

export type SecurityAlertEdge = {
  /** Opaque cursor of this edge, for `after`. */
  cursor: Scalars['String']['output'];
  node: SecurityAlert;
};

/** Narrows `securityAlerts`; all given criteria must hold. */
export type SecurityAlertFilter = {
  principal?: InputMaybe<Scalars['ID']['input']>;
  rule?: InputMaybe<AlertRuleName>;
  /** Only alerts raised at or after this time. */
  since?: InputMaybe<Scalars['DateTimeISO']['input']>;
};

export type SetPrincipalStatusInput = {
  principalId: Scalars['ID']['input'];
  /** DISABLED refuses its tokens and client credentials at once; ACTIVE accepts them again. */
  status: PrincipalStatus;
};

export type SetPrincipalStatusPayload = {
  principal?: Maybe<Principal>;
  userErrors: Array<UserError>;
};

/** A provider’s TLS pins and request signing; omitted fields stay as they are. */
export type SetProviderTransportSecurityInput = {
  id: Scalars['ID']['input'];
  requestSigning?: InputMaybe<RequestSigning>;
  /** The complete new pin set (replaces the old one); [] turns pinning off. */
  tlsPins?: InputMaybe<Array<Scalars['String']['input']>>;
};

/** Variables of a provider to set and to remove (its owner or an admin). */
export type SetProviderVariablesInput = {
  providerId: Scalars['ID']['input'];
  /** Names to remove; names that are not set are ignored. */
  remove?: Array<Scalars['String']['input']>;
  /** Created, or replaced when the name is set. */
  variables?: Array<ProviderVariableInput>;
};

export type SetProviderVariablesPayload = {
  provider?: Maybe<Provider>;
  userErrors: Array<UserError>;
  /** Every variable of the provider after the change. */
  variables?: Maybe<Array<ProviderVariable>>;
};

export type SetToolEnabledInput = {
  enabled: Scalars['Boolean']['input'];
  toolId: Scalars['ID']['input'];
};

export type Subscription = {
  /** Tools added, changed, quarantined or removed, on any replica, as far as the caller may read them (tools:read). */
  catalogChanged: CatalogChange;
  /** Follows an execution (its principal's, or any with audit:read): its state now, then each change and streamed chunk until it ends. */
  executionUpdated: ExecutionUpdate;
  /** Security alerts as they are raised on any replica (audit:read). */
  securityAlertRaised: SecurityAlert;
};


export type SubscriptionExecutionUpdatedArgs = {
  id: Scalars['ID']['input'];
};

export type TlsPinFailure = {
  at: Scalars['DateTimeISO']['output'];
  /** The host whose certificate chain did not match. */
  host: Scalars['String']['output'];
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

/** Changes one alert rule; fields left out keep their value. */
export type UpdateAlertRuleInput = {
  /** Rate rules only. */
  baselineFloor?: InputMaybe<Scalars['Int']['input']>;
  /** Rate rules only: from 1 to 30. */
  baselineMinWindows?: InputMaybe<Scalars['Int']['input']>;
  /** Rate rules only: from 1 to 1000. */
  baselineMultiple?: InputMaybe<Scalars['Float']['input']>;
  enabled?: InputMaybe<Scalars['Boolean']['input']>;
  name: AlertRuleName;
  threshold?: InputMaybe<Scalars['Int']['input']>;
  /** A new window restarts the learning of usual rates. */
  windowSeconds?: InputMaybe<Scalars['Int']['input']>;
};

export type UpdateAlertRulePayload = {
  rule?: Maybe<AlertRule>;
  userErrors: Array<UserError>;
};

export type UpdatePolicyInput = {
  id: Scalars['ID']['input'];
  policy: PolicyInput;
};

export type UserError = {
  /** Stable code (ErrorCode). */
  code: Scalars['String']['output'];
  /** Path of the input field at fault, when there is one. */
  field: Array<Scalars['String']['output']>;
  message: Scalars['String']['output'];
};

export type _Entity = Execution | Principal | Provider | Tool;

export type _Service = {
  sdl?: Maybe<Scalars['String']['output']>;
};

export type Link__Purpose =
  /** `EXECUTION` features provide metadata necessary for operation execution. */
  | 'EXECUTION'
  /** `SECURITY` features provide metadata necessary to securely resolve fields. */
  | 'SECURITY';

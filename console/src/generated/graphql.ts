/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
export type ApproveToolVersionInput = {
  toolId: string | number;
  version: number;
};

/** Narrows the audit log; all given criteria must hold. */
export type AuditLogFilter = {
  action?: string | null | undefined;
  actorId?: string | null | undefined;
  outcome?: AuditOutcome | null | undefined;
  targetId?: string | null | undefined;
  targetType?: string | null | undefined;
};

export type AuditOutcome =
  | 'DENIED'
  | 'FAILURE'
  | 'SUCCESS';

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
  name: string;
  /** viewer, agent, publisher, policy_admin, admin */
  roles?: Array<string> | null | undefined;
  scopes?: Array<string> | null | undefined;
};

export type ExecuteToolInput = {
  /** The call's arguments: a JSON object matching the tool's input schema. */
  arguments: unknown;
  /** Retries with the same key (from the same principal) return the first execution instead of calling again. */
  idempotencyKey?: string | null | undefined;
  /** SYNC (default) answers when the call ended; ASYNC answers at once with the execution, already claimed and running (follow it with `execution` or `executionUpdated`). */
  mode?: ExecutionMode | null | undefined;
  /** Deadline of the call in milliseconds (default and maximum are configured). */
  timeoutMs?: number | null | undefined;
  /** The tool, by name (`provider.tool`). */
  tool: string;
};

export type ExecutionFilter = {
  /** Principal id (audit:read only; others always see their own). */
  principal?: string | number | null | undefined;
  status?: Array<ExecutionStatus> | null | undefined;
  /** Tool name. */
  tool?: string | null | undefined;
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

/** What a policy governs: seeing a tool, calling it, or administering it. */
export type PolicyAction =
  | 'ADMIN'
  | 'EXECUTE'
  | 'READ';

export type PolicyConditionsInput = {
  /** A JSON Schema the call's arguments must satisfy. */
  arguments?: unknown;
  /** Client address in any of these CIDRs. */
  sourceCidrs?: Array<string> | null | undefined;
  timeWindows?: Array<PolicyTimeWindowInput> | null | undefined;
};

export type PolicyEffect =
  | 'ALLOW'
  | 'DENY';

/** Every field of a policy; an update replaces them all. */
export type PolicyInput = {
  actions: Array<PolicyAction>;
  /** Default true. */
  active?: boolean | null | undefined;
  conditions?: PolicyConditionsInput | null | undefined;
  description?: string | null | undefined;
  effect: PolicyEffect;
  limits?: PolicyLimitsInput | null | undefined;
  name: string;
  /** A policy whose conditions this one inherits. */
  parentId?: string | number | null | undefined;
  /** Higher wins; default 0. */
  priority?: number | null | undefined;
  resources?: PolicyResourcesInput | null | undefined;
  subjects?: PolicySubjectsInput | null | undefined;
};

export type PolicyLimitsInput = {
  quota?: PolicyQuotaInput | null | undefined;
  rate?: PolicyRateLimitInput | null | undefined;
};

export type PolicyQuotaInput = {
  calls: number;
  period: QuotaPeriod;
};

export type PolicyRateLimitInput = {
  calls: number;
  windowSeconds: number;
};

export type PolicyResourcesInput = {
  providers?: Array<string> | null | undefined;
  tags?: Array<string> | null | undefined;
  tools?: Array<string> | null | undefined;
};

export type PolicySubjectsInput = {
  principals?: Array<string | number> | null | undefined;
  roles?: Array<string> | null | undefined;
};

export type PolicyTimeWindowInput = {
  /** Day names or their three-letter abbreviations (sunday, mon). Absent: every day. */
  days?: Array<string> | null | undefined;
  from?: string | null | undefined;
  timeZone: string;
  to?: string | null | undefined;
};

export type PrincipalFilter = {
  /** A part of the name or client id, case-insensitive. */
  search?: string | null | undefined;
  status?: PrincipalStatus | null | undefined;
};

export type PrincipalKind =
  | 'AGENT'
  | 'SERVICE'
  | 'USER';

export type PrincipalStatus =
  | 'ACTIVE'
  | 'DISABLED';

/** Authentication for a provider, instead of an `auth` block in its call template. Secrets go into the vault. */
export type ProviderCredentialInput = {
  apiKey?: string | null | undefined;
  /** api_key, basic or oauth2. */
  authType: string;
  clientId?: string | null | undefined;
  clientSecret?: string | null | undefined;
  /** api_key: header, query or cookie (default header). */
  location?: string | null | undefined;
  password?: string | null | undefined;
  scope?: string | null | undefined;
  tokenUrl?: string | null | undefined;
  username?: string | null | undefined;
  /** api_key: header, query parameter or cookie name (default X-Api-Key). */
  varName?: string | null | undefined;
};

export type ProviderStatus =
  | 'ACTIVE'
  | 'DISABLED'
  | 'ERROR';

/** A variable to create or replace. */
export type ProviderVariableInput = {
  /** Letters, digits and `_`, as the manual writes it without `$` (`NEWS_API_KEY`). */
  name: string;
  /** Keep the value in the vault and never return it (the default). */
  secret?: boolean;
  /** At most 16,384 characters; never returned when secret. */
  value: string;
};

export type QuotaPeriod =
  | 'DAY'
  | 'MONTH';

/** A UTCP 1.1 manual call template under a new provider name. */
export type RegisterProviderInput = {
  /** The call template (`call_template_type`, `url`, …). Literal secrets in `auth` are moved into the vault. */
  callTemplate: unknown;
  credential?: ProviderCredentialInput | null | undefined;
  /** Letters, digits and `_`; prefixes the names of its tools. */
  name: string;
  /** Default OFF. */
  requestSigning?: RequestSigning | null | undefined;
  /** SPKI SHA-256 pins (base64, at most 8; several while rotating). Discovery is pinned too. */
  tlsPins?: Array<string> | null | undefined;
};

/** Whether the registry signs this provider’s calls with HTTP Message Signatures (RFC 9421). */
export type RequestSigning =
  /** Calls are not signed. */
  | 'OFF'
  /** http, sse, streamable_http and graphql calls (and WebSocket upgrades) carry Signature-Input/Signature; WebSocket messages travel in a signed envelope. Keys: /.well-known/request-signing-keys.json. */
  | 'SIGN';

export type SetPrincipalStatusInput = {
  principalId: string | number;
  /** DISABLED refuses its tokens and client credentials at once; ACTIVE accepts them again. */
  status: PrincipalStatus;
};

/** Variables of a provider to set and to remove (its owner or an admin). */
export type SetProviderVariablesInput = {
  providerId: string | number;
  /** Names to remove; names that are not set are ignored. */
  remove?: Array<string>;
  /** Created, or replaced when the name is set. */
  variables?: Array<ProviderVariableInput>;
};

export type SetToolEnabledInput = {
  enabled: boolean;
  toolId: string | number;
};

/** Narrows a tool listing; all given criteria must hold. */
export type ToolFilter = {
  callTemplateType?: CallTemplateType | null | undefined;
  enabled?: boolean | null | undefined;
  /** Name of the provider. */
  provider?: string | null | undefined;
  /** Full-text search over name, tags and description, ranked by relevance. */
  search?: string | null | undefined;
  /** Tools in any of these states; by default all but REMOVED. */
  status?: Array<ToolStatus> | null | undefined;
  /** Tools carrying every one of these tags. */
  tags?: Array<string> | null | undefined;
};

/** Whether a tool may be called or awaits approval. */
export type ToolStatus =
  | 'ACTIVE'
  | 'QUARANTINED'
  | 'REMOVED';

export type ToolVersionStatus =
  | 'APPROVED'
  | 'PENDING'
  | 'REJECTED';

export type UpdatePolicyInput = {
  id: string | number;
  policy: PolicyInput;
};

export type ConsoleAdminToolsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: ToolFilter | null | undefined;
}>;


export type ConsoleAdminToolsQuery = { tools: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, enabled: boolean, quarantined: boolean, status: ToolStatus, version: number, provider: { id: string, name: string } } }> } };

export type ConsoleApproveMutationVariables = Exact<{
  input: ApproveToolVersionInput;
}>;


export type ConsoleApproveMutation = { approveToolVersion: { tool: { id: string, name: string, status: ToolStatus, version: number } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleAuditQueryVariables = Exact<{
  after?: string | null | undefined;
  filter?: AuditLogFilter | null | undefined;
}>;


export type ConsoleAuditQuery = { auditLog: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { seq: string, at: string, action: string, outcome: AuditOutcome, actorId: string | null, actorName: string | null, targetType: string, targetId: string | null, targetName: string | null } }> } };

export type ConsoleAuditEntryQueryVariables = Exact<{
  seq: string | number;
}>;


export type ConsoleAuditEntryQuery = { auditEntry: { seq: string, at: string, action: string, outcome: AuditOutcome, actorId: string | null, actorName: string | null, targetType: string, targetId: string | null, targetName: string | null, requestId: string | null, sourceIp: string | null, details: unknown, prevHash: string, hash: string } | null };

export type ConsoleCancelExecutionMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleCancelExecutionMutation = { cancelExecution: { id: string, status: ExecutionStatus, result: unknown, durationMs: number | null, outputValid: boolean | null, error: { code: string, message: string, details: unknown } | null } };

export type ConsoleCreatePolicyMutationVariables = Exact<{
  input: PolicyInput;
}>;


export type ConsoleCreatePolicyMutation = { createPolicy: { policy: { id: string, name: string } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleCreatePrincipalMutationVariables = Exact<{
  input: CreatePrincipalInput;
}>;


export type ConsoleCreatePrincipalMutation = { createPrincipal: { clientSecret: string | null, principal: { id: string, name: string, clientId: string | null } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleDeletePolicyMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleDeletePolicyMutation = { deletePolicy: { policy: { id: string, name: string } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleExecuteMutationVariables = Exact<{
  input: ExecuteToolInput;
}>;


export type ConsoleExecuteMutation = { executeTool: { id: string, status: ExecutionStatus, result: unknown, durationMs: number | null, error: { code: string, message: string, details: unknown } | null } };

export type ConsoleExecutionQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleExecutionQuery = { execution: { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, arguments: unknown, result: unknown, outputValid: boolean | null, decision: unknown, attempts: number, durationMs: number | null, idempotencyKey: string | null, createdAt: string, startedAt: string | null, finishedAt: string | null, error: { code: string, message: string, details: unknown } | null, principal: { id: string, name: string } | null } | null };

export type ConsoleExecutionUpdatedSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type ConsoleExecutionUpdatedSubscription = { executionUpdated: { chunk: unknown, execution: { id: string, status: ExecutionStatus, result: unknown, durationMs: number | null, outputValid: boolean | null, error: { code: string, message: string, details: unknown } | null } } };

export type ConsoleExecutionsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: ExecutionFilter | null | undefined;
}>;


export type ConsoleExecutionsQuery = { executions: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, createdAt: string, durationMs: number | null, principal: { id: string, name: string } | null } }> } };

export type ConsoleExplainAccessQueryVariables = Exact<{
  tool: string;
  action: PolicyAction;
  principal?: string | number | null | undefined;
  arguments?: unknown;
}>;


export type ConsoleExplainAccessQuery = { explainAccess: { allowed: boolean, reason: string, decidingPolicy: { id: string, name: string } | null, evaluations: Array<{ policyId: string, name: string, matched: boolean, applied: boolean, reasons: Array<string> }> } };

export type ConsoleExplorerSchemaQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleExplorerSchemaQuery = { _service: { sdl: string | null } };

export type ConsoleMeQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleMeQuery = { me: { scopes: Array<string>, principal: { id: string, name: string, roles: Array<string> } } };

export type ConsolePoliciesQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ConsolePoliciesQuery = { policies: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, description: string, effect: PolicyEffect, priority: number, active: boolean, actions: Array<PolicyAction>, parentId: string | null, createdAt: string, updatedAt: string, subjects: { principals: Array<string> | null, roles: Array<string> | null }, resources: { tools: Array<string> | null, providers: Array<string> | null, tags: Array<string> | null }, conditions: { arguments: unknown, sourceCidrs: Array<string> | null, timeWindows: Array<{ days: Array<string> | null, from: string | null, to: string | null, timeZone: string }> | null }, limits: { rate: { calls: number, windowSeconds: number } | null, quota: { calls: number, period: QuotaPeriod } | null } } }> } };

export type ConsolePolicyQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsolePolicyQuery = { policy: { id: string, name: string, description: string, effect: PolicyEffect, priority: number, active: boolean, actions: Array<PolicyAction>, parentId: string | null, createdAt: string, updatedAt: string, subjects: { principals: Array<string> | null, roles: Array<string> | null }, resources: { tools: Array<string> | null, providers: Array<string> | null, tags: Array<string> | null }, conditions: { arguments: unknown, sourceCidrs: Array<string> | null, timeWindows: Array<{ days: Array<string> | null, from: string | null, to: string | null, timeZone: string }> | null }, limits: { rate: { calls: number, windowSeconds: number } | null, quota: { calls: number, period: QuotaPeriod } | null } } | null };

export type ConsolePolicyFieldsFragment = { id: string, name: string, description: string, effect: PolicyEffect, priority: number, active: boolean, actions: Array<PolicyAction>, parentId: string | null, createdAt: string, updatedAt: string, subjects: { principals: Array<string> | null, roles: Array<string> | null }, resources: { tools: Array<string> | null, providers: Array<string> | null, tags: Array<string> | null }, conditions: { arguments: unknown, sourceCidrs: Array<string> | null, timeWindows: Array<{ days: Array<string> | null, from: string | null, to: string | null, timeZone: string }> | null }, limits: { rate: { calls: number, windowSeconds: number } | null, quota: { calls: number, period: QuotaPeriod } | null } };

export type ConsolePrincipalsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: PrincipalFilter | null | undefined;
}>;


export type ConsolePrincipalsQuery = { principals: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, kind: PrincipalKind, clientId: string | null, roles: Array<string>, scopes: Array<string>, status: PrincipalStatus, createdAt: string } }> } };

export type ConsoleProviderQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleProviderQuery = { provider: { id: string, name: string, callTemplateType: CallTemplateType, status: ProviderStatus, lastError: string | null, lastDiscoveredAt: string | null, createdAt: string, updatedAt: string, tlsPins: Array<string>, requestSigning: RequestSigning, credential: { authType: string, hint: string, location: string | null, varName: string | null, createdAt: string, rotatedAt: string | null } | null, tools: { totalCount: number, edges: Array<{ node: { id: string, name: string, enabled: boolean, quarantined: boolean, status: ToolStatus, version: number } }> } } | null };

export type ConsoleProviderVariablesQueryVariables = Exact<{
  id: string | number;
}>;


export type ConsoleProviderVariablesQuery = { provider: { id: string, name: string, missingVariables: Array<string>, variables: Array<{ name: string, secret: boolean, value: string | null, updatedAt: string }> } | null };

export type ConsoleProvidersQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type ConsoleProvidersQuery = { providers: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, callTemplateType: CallTemplateType, status: ProviderStatus, lastError: string | null, lastDiscoveredAt: string | null } }> } };

export type ConsoleQuarantinedQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ConsoleQuarantinedQuery = { tools: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, version: number, provider: { id: string, name: string }, versions: Array<{ version: number, status: ToolVersionStatus, createdAt: string, definition: unknown }> } }> } };

export type ConsoleRefreshProviderMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleRefreshProviderMutation = { refreshProvider: { created: Array<string>, updated: Array<string>, quarantined: Array<string>, removed: Array<string>, restored: Array<string>, provider: { id: string, status: ProviderStatus, lastError: string | null } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleRegisterProviderMutationVariables = Exact<{
  input: RegisterProviderInput;
}>;


export type ConsoleRegisterProviderMutation = { registerProvider: { created: Array<string>, quarantined: Array<string>, warnings: Array<string>, provider: { id: string, name: string, status: ProviderStatus } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleRemoveProviderMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleRemoveProviderMutation = { removeProvider: { provider: { id: string, name: string, status: ProviderStatus } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleRevokeTokensMutationVariables = Exact<{
  principalId: string | number;
}>;


export type ConsoleRevokeTokensMutation = { revokeTokens: { revokedAt: string | null, principal: { id: string, name: string } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleRotatePrincipalSecretMutationVariables = Exact<{
  principalId: string | number;
}>;


export type ConsoleRotatePrincipalSecretMutation = { rotatePrincipalSecret: { clientSecret: string | null, principal: { id: string, name: string, clientId: string | null } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleSetPrincipalStatusMutationVariables = Exact<{
  input: SetPrincipalStatusInput;
}>;


export type ConsoleSetPrincipalStatusMutation = { setPrincipalStatus: { principal: { id: string, name: string, status: PrincipalStatus } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleSetProviderVariablesMutationVariables = Exact<{
  input: SetProviderVariablesInput;
}>;


export type ConsoleSetProviderVariablesMutation = { setProviderVariables: { provider: { id: string, missingVariables: Array<string> } | null, variables: Array<{ name: string, secret: boolean, value: string | null, updatedAt: string }> | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleSetToolEnabledMutationVariables = Exact<{
  input: SetToolEnabledInput;
}>;


export type ConsoleSetToolEnabledMutation = { setToolEnabled: { tool: { id: string, name: string, enabled: boolean } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleToolQueryVariables = Exact<{
  name: string;
}>;


export type ConsoleToolQuery = { tool: { id: string, name: string, description: string, tags: Array<string>, callTemplateType: CallTemplateType, enabled: boolean, quarantined: boolean, status: ToolStatus, version: number, inputs: unknown, outputs: unknown, versions: Array<{ version: number, status: ToolVersionStatus, createdAt: string, decidedAt: string | null }>, provider: { id: string, name: string, status: ProviderStatus, lastError: string | null, lastDiscoveredAt: string | null } } | null };

export type ConsoleToolsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: ToolFilter | null | undefined;
}>;


export type ConsoleToolsQuery = { tools: { totalCount: number, pageInfo: { endCursor: string | null, hasNextPage: boolean }, edges: Array<{ node: { id: string, name: string, description: string, tags: Array<string>, callTemplateType: CallTemplateType, quarantined: boolean, status: ToolStatus, provider: { name: string, status: ProviderStatus } } }> } };

export type ConsoleUpdatePolicyMutationVariables = Exact<{
  input: UpdatePolicyInput;
}>;


export type ConsoleUpdatePolicyMutation = { updatePolicy: { policy: { id: string, name: string, active: boolean } | null, userErrors: Array<{ field: Array<string>, message: string, code: string }> } };

export type ConsoleVerifyAuditQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleVerifyAuditQuery = { verifyAuditLog: { valid: boolean, checked: number, entries: number, firstBrokenSeq: string | null, lastSeq: string | null, truncated: boolean, summary: string, unanchoredEntries: number, checkpointsChecked: number, checkpointAgeSeconds: number | null, checkpoint: { seq: string, at: string, count: number, keyId: string } | null, problems: Array<{ kind: AuditProblemKind, seq: string | null, message: string }> } };

/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
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

/** What happened to a tool. */
export type CatalogChangeKind =
  | 'ADDED'
  | 'CHANGED'
  | 'QUARANTINED'
  | 'REMOVED';

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

export type ProviderStatus =
  | 'ACTIVE'
  | 'DISABLED'
  | 'ERROR';

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

export type SecurityAlertRaisedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type SecurityAlertRaisedSubscription = { securityAlertRaised: { id: string, rule: AlertRuleName, subject: string, principalId: string | null, count: number, threshold: number, windowSeconds: number, details: unknown } };

export type ToolsQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: ToolFilter | null | undefined;
}>;


export type ToolsQuery = { tools: { totalCount: number, edges: Array<{ cursor: string, node: { name: string, tags: Array<string>, provider: { name: string } } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ToolByNameQueryVariables = Exact<{
  name: string;
}>;


export type ToolByNameQuery = { tool: { id: string, name: string, description: string, callTemplateType: CallTemplateType, inputs: unknown, outputs: unknown, version: number, status: ToolStatus, enabled: boolean, provider: { id: string, name: string } } | null };

export type ProviderByIdQueryVariables = Exact<{
  id: string | number;
  first?: number | null | undefined;
}>;


export type ProviderByIdQuery = { provider: { name: string, status: ProviderStatus, callTemplateType: CallTemplateType, tools: { edges: Array<{ node: { name: string } }> } } | null };

export type ProvidersQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type ProvidersQuery = { providers: { totalCount: number, edges: Array<{ node: { name: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ServiceSdlQueryVariables = Exact<{ [key: string]: never; }>;


export type ServiceSdlQuery = { _service: { sdl: string | null } };

export type SearchToolsQueryVariables = Exact<{
  search: string;
  first?: number | null | undefined;
  after?: string | null | undefined;
}>;


export type SearchToolsQuery = { tools: { totalCount: number, edges: Array<{ cursor: string, node: { id: string, name: string, description: string, tags: Array<string>, inputs: unknown, callTemplateType: CallTemplateType, quarantined: boolean, enabled: boolean, updatedAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type CatalogChangedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type CatalogChangedSubscription = { catalogChanged: { kind: CatalogChangeKind, toolName: string, tool: { id: string, name: string, status: ToolStatus, enabled: boolean, version: number, provider: { name: string } } } };

export type ExecutionStateFragment = { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, result: unknown, outputValid: boolean | null, attempts: number, createdAt: string, finishedAt: string | null, durationMs: number | null, error: { code: string, message: string, details: unknown } | null };

export type ExecuteToolMutationVariables = Exact<{
  input: ExecuteToolInput;
}>;


export type ExecuteToolMutation = { executeTool: { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, result: unknown, outputValid: boolean | null, attempts: number, createdAt: string, finishedAt: string | null, durationMs: number | null, error: { code: string, message: string, details: unknown } | null } };

export type ExecutionByIdQueryVariables = Exact<{
  id: string | number;
}>;


export type ExecutionByIdQuery = { execution: { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, result: unknown, outputValid: boolean | null, attempts: number, createdAt: string, finishedAt: string | null, durationMs: number | null, error: { code: string, message: string, details: unknown } | null } | null };

export type FollowExecutionSubscriptionVariables = Exact<{
  id: string | number;
}>;


export type FollowExecutionSubscription = { executionUpdated: { chunk: unknown, execution: { id: string, toolName: string, status: ExecutionStatus, mode: ExecutionMode, result: unknown, outputValid: boolean | null, attempts: number, createdAt: string, finishedAt: string | null, durationMs: number | null, error: { code: string, message: string, details: unknown } | null } } };

/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
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

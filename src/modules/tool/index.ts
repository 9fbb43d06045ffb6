export { Tool, ToolStatus } from './tool.entity.js';
export { ToolVersion, ToolVersionStatus } from './tool-version.entity.js';
export { ToolService, type ManualImport, type ToolListArgs, type ToolListFilter } from './tool.service.js';
export { ToolResolver } from './tool.resolver.js';
export { ToolConnection, ToolConnectionResolver, ToolFilter, ToolNode } from './tool.types.js';
export { definitionHash, toolDefinition, type ToolDefinition } from './tool.definition.js';
export { toolRules } from './tool.rules.js';
export { approvePendingVersion, syncTools, type SyncOptions, type SyncResult } from './tool.sync.js';
export { NOTHING_READABLE, readFilterOf, type ReadFilter, type SqlFilter } from './tool.visibility.js';

export { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
export { type ExecutionListFilter, ExecutionService } from './execution.service.js';
export { ExecutionConnectionResolver, ExecutionNode } from './execution.types.js';
export { ExecutionResolver } from './execution.resolver.js';
export { executionRules } from './execution.rules.js';
export { ExecutionEvents, type ExecutionUpdate } from './execution.events.js';
export { ExecutionLimiter } from './execution.limits.js';
export { type ExecuteInput, type ExecutionCaller, executionCallerOf, ExecutionRuntime, type ExecutionRuntimeDependencies } from './execution.runtime.js';

export { Execution, ExecutionMode, ExecutionStatus } from './execution.entity.js';
export { ExecutionService } from './execution.service.js';
export { ExecutionNode } from './execution.types.js';
export { executionRules } from './execution.rules.js';

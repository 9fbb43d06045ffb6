export { ProviderVariable } from './variable.entity.js';
export {
  MAX_VARIABLE_VALUE_LENGTH,
  MAX_VARIABLES_PER_PROVIDER,
  ProviderVariableService,
  type ResolvedVariables,
  type SetVariablesInput,
  type VariableInput,
  type VariableView,
} from './variable.service.js';
export { ProviderVariableResolver } from './variable.resolver.js';
export { ProviderVariableNode, ProviderVariableInput, SetProviderVariablesInput, SetProviderVariablesPayload } from './variable.types.js';
export { variableRules } from './variable.rules.js';

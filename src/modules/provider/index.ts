export { CallTemplateType, Provider, ProviderStatus } from './provider.entity.js';
export { ProviderService, type ProviderListArgs } from './provider.service.js';
export { ProviderResolver } from './provider.resolver.js';
export { ProviderConnection, ProviderConnectionResolver, ProviderNode } from './provider.types.js';
export { providerRules } from './provider.rules.js';

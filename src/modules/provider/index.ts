export { CallTemplateType, Provider, ProviderStatus } from './provider.entity.js';
export { ProviderService, type ProviderListArgs } from './provider.service.js';
export { ProviderResolver } from './provider.resolver.js';
export { ProviderConnection, ProviderConnectionResolver, ProviderNode } from './provider.types.js';
export { providerRules } from './provider.rules.js';
export { ProviderRegistrationService, type ProviderChange, type RegistrationDependencies } from './provider-registration.service.js';
export { ProviderRefresher } from './provider-refresher.js';
export { recordTlsPinFailure } from './provider-pins.js';

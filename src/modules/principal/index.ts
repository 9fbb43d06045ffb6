export { Principal, PrincipalKind, PrincipalStatus } from './principal.entity.js';
export { RefreshToken } from './refresh-token.entity.js';
export { type Viewer } from './viewer.js';
export { PrincipalService, viewerOf, viewerWithScopes, type CreatePrincipalInput, type PrincipalWithSecret } from './principal.service.js';
export { RefreshTokenService, type RefreshResult } from './refresh-tokens.service.js';
export { PrincipalResolver } from './principal.resolver.js';
export { PrincipalNode } from './principal.types.js';
export { principalRules } from './principal.rules.js';
export { createAdmin, ensureBootstrapAdmin, hasAdmin } from './bootstrap.js';

export { Principal, PrincipalKind, PrincipalStatus } from './principal.entity.js';
export { RefreshToken } from './refresh-token.entity.js';
export { type Viewer } from './viewer.js';

export { OAuthClient } from './oauth-client.entity.js';
export { AuthorizationCode } from './authorization-code.entity.js';
export { TotpEnrolment } from './totp-enrolment.entity.js';
export { OAuthClientService, redirectUriRegistered, MAX_REDIRECT_URIS, MAX_REDIRECT_URI_LENGTH, type RegistrationError, type RegistrationLimits } from './oauth-clients.service.js';
export { AuthorizationCodes, CODE_TTL_SECONDS, isS256Challenge, type CodeGrant, type Redemption } from './authorization-codes.service.js';
export { TotpService } from './totp.service.js';

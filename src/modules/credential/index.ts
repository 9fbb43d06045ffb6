export { Credential, CredentialAuthType } from './credential.entity.js';

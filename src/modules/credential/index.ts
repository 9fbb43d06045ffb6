export { Credential, CredentialAuthType } from './credential.entity.js';
export { CredentialService, type CredentialInput, type CredentialView } from './credential.service.js';
export {
  CredentialVault,
  generateMasterKey,
  loadOrCreateMasterKey,
  masterKeyFrom,
  parseMasterKey,
  VaultError,
  type LoadedMasterKey,
  type MasterKey,
} from './vault.js';

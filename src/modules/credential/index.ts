export { Credential, CredentialAuthType } from './credential.entity.js';
export { CredentialService, secretFieldsOf, settingFieldsOf, type CredentialInput, type CredentialView } from './credential.service.js';
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
export { resealUnderCurrentKey, type Resealed } from './vault.reseal.js';

import { AlertRule, SecurityAlert } from '../modules/alert/alert.entity.js';
import { AuditCheckpoint } from '../modules/audit/audit-checkpoint.entity.js';
import { AuditEntry } from '../modules/audit/audit-entry.entity.js';
import { Credential } from '../modules/credential/credential.entity.js';
import { Execution } from '../modules/execution/execution.entity.js';
import { Policy } from '../modules/policy/policy.entity.js';
import { Principal } from '../modules/principal/principal.entity.js';
import { RefreshToken } from '../modules/principal/refresh-token.entity.js';
import { TokenFamily } from '../modules/principal/token-family.entity.js';
import { AuthorizationCode } from '../modules/oauth/authorization-code.entity.js';
import { OAuthClient } from '../modules/oauth/oauth-client.entity.js';
import { TotpEnrolment } from '../modules/oauth/totp-enrolment.entity.js';
import { Provider } from '../modules/provider/provider.entity.js';
import { ProviderVariable } from '../modules/variable/variable.entity.js';
import { ToolVersion } from '../modules/tool/tool-version.entity.js';
import { Tool } from '../modules/tool/tool.entity.js';
import { BaseEntity } from './base.entity.js';

/** Every entity the ORM maps, registered explicitly. */
export const entities = [
  BaseEntity,
  Provider,
  Tool,
  ToolVersion,
  Principal,
  RefreshToken,
  TokenFamily,
  Policy,
  Credential,
  ProviderVariable,
  Execution,
  AuditEntry,
  AuditCheckpoint,
  AlertRule,
  SecurityAlert,
  OAuthClient,
  AuthorizationCode,
  TotpEnrolment,
];

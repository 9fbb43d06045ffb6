import 'reflect-metadata';
import { type Config, ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';
import { CredentialService } from '../modules/credential/index.js';
import { TotpService } from '../modules/oauth/index.js';
import { ProviderVariableService } from '../modules/variable/index.js';
import { createSecurity } from '../security/index.js';

/**
 * Re-encrypts every stored credential, secret provider variable and TOTP second factor under REGISTRY_MASTER_KEY; the
 * keys they are sealed under now must be listed in REGISTRY_PREVIOUS_MASTER_KEYS. Returns how many
 * were re-encrypted; safe to run again after an interruption.
 */
export async function rotateMasterKey(config: Config): Promise<number> {
  if (!config.masterKey) throw new ConfigError(['REGISTRY_MASTER_KEY: required, as the key to rotate to']);
  const security = await createSecurity(config, createLogger('warn', process.stderr));
  const db = await openDatabase(config.database);
  try {
    const credentials = await new CredentialService(db.fork(), security.vault).rotateMasterKey();
    const variables = await new ProviderVariableService(db.fork(), security.vault).rotateMasterKey();
    return credentials + variables + (await new TotpService(db.fork(), security.vault).rotateMasterKey());
  } finally {
    await db.close();
    await security.close();
  }
}

/** `npm run vault:rotate`. */
if (process.argv[1]?.endsWith('rotate-master-key.js')) {
  try {
    const count = await rotateMasterKey(loadConfig());
    process.stdout.write(`Re-encrypted ${count} credential(s), secret variable(s) and TOTP second factor(s) under the current master key.\n`);
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : `vault:rotate failed: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
  }
}

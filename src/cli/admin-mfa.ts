import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';
import { TotpService } from '../modules/oauth/index.js';
import { Principal } from '../modules/principal/index.js';
import { createSecurity } from '../security/index.js';

/**
 * `npm run admin:mfa -- <client id>`: enrols (or re-enrols) a principal's TOTP second factor and
 * prints the `otpauth://` URI for an authenticator app, once. The secret is sealed by the
 * credential vault (REGISTRY_MASTER_KEY). With REGISTRY_ADMIN_MFA=required, admins need it to sign
 * in at /oauth/authorize.
 */
try {
  const clientId = process.argv[2];
  if (!clientId) throw new Error('usage: npm run admin:mfa -- <client id>');
  const config = loadConfig();
  const db = await openDatabase(config.database);
  const security = await createSecurity(config, createLogger('warn'));
  try {
    const em = db.fork();
    const principal = await em.findOne(Principal, { clientId });
    if (!principal) throw new Error(`no principal with client id ${clientId}`);
    const { uri } = await new TotpService(em, security.vault).enrol(principal);
    process.stdout.write(`Add this to an authenticator app (it is shown once):\n${uri}\n`);
  } finally {
    await security.close();
    await db.close();
  }
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `admin:mfa failed: ${(error as Error).message}`}\n`);
  process.exitCode = 1;
}

import { generateMasterKey } from '../modules/credential/index.js';
import { generateSigningJwk } from '../security/signing-keys.js';

/**
 * `npm run keys:generate`: prints a new signing key and credential master key as an env file
 * (`npm run -s keys:generate > .env`). To rotate the signing key, put the new JWK first in the
 * array and keep the old one after it until its tokens have expired.
 */
const jwk = await generateSigningJwk();
const master = generateMasterKey();
process.stdout.write(
  `REGISTRY_SIGNING_KEYS='${JSON.stringify([jwk])}'\nREGISTRY_MASTER_KEY=${master.key.toString('base64')}\n`,
);

import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import { type TlsConfig } from '../config.js';
import { type Logger } from '../logger.js';
import { readCertificateBundle } from '../security/certificates.js';

/**
 * Cipher suites the registry serves: TLS 1.3's three AEAD suites and, for TLS 1.2 when allowed,
 * only ECDHE key exchange (forward secrecy) with AEAD ciphers (AES-GCM, ChaCha20-Poly1305): no
 * CBC, no RSA key exchange, no SHA-1.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

/** HSTS sent on every response when serving TLS: one year, this host only (subdomains are the operator's call). */
export const HSTS = 'max-age=31536000';

/** Raised when the certificate files cannot be read or do not form a usable pair; names files, never their content. */
export class TlsFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

async function readPem(path: string, setting: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new TlsFilesError(`${setting}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Reads the certificate files and returns the secure-context options to serve them with: the
 * version floor, the cipher list above, the server's cipher preference. Throws {@link TlsFilesError}
 * when a file cannot be read, or the key does not match the certificate (checked by building a context).
 */
export async function secureContextOptions(config: TlsConfig): Promise<SecureContextOptions> {
  // Every file is read, and every one that cannot be is named (not whichever failed first).
  const read = await Promise.allSettled([
    readPem(config.certFile, 'TLS_CERT_FILE'),
    readPem(config.keyFile, 'TLS_KEY_FILE'),
    config.caFile
      ? readCertificateBundle(config.caFile, 'TLS_CA_FILE').catch((error: Error) => {
          throw new TlsFilesError(error.message);
        })
      : Promise.resolve(undefined),
  ]);
  const failed = read.flatMap((result) => (result.status === 'rejected' ? [result.reason as Error] : []));
  if (failed.length > 0) throw new TlsFilesError(failed.map((error) => error.message).join('; '));
  const [cert, key, ca] = read.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [string, string, string[] | undefined];
  const options: SecureContextOptions = {
    cert,
    key,
    ...(ca ? { ca } : {}),
    minVersion: config.minVersion,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
  };
  try {
    createSecureContext(options);
  } catch (error) {
    // OpenSSL's reason ("key values mismatch", "no start line"); it never quotes the key.
    const reason = (error as Error).message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '');
    throw new TlsFilesError(`TLS_CERT_FILE / TLS_KEY_FILE: ${config.certFile} and ${config.keyFile} are not a usable certificate and key (${reason})`);
  }
  return options;
}

/**
 * The `https` options of the Fastify server: {@link secureContextOptions}, plus, with a client CA,
 * a client certificate requested and required at the handshake (a client without one that chains
 * to the CA never reaches HTTP).
 */
export async function httpsServerOptions(config: TlsConfig): Promise<SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean }> {
  const options = await secureContextOptions(config);
  return { ...options, requestCert: Boolean(config.caFile), rejectUnauthorized: Boolean(config.caFile) };
}

/**
 * Reads the certificate files again and serves them to new connections (SIGHUP); open connections
 * keep the context they were made with. A pair that cannot be used is not applied: the server keeps
 * the previous one, and one error line says why. Resolves true when the new files are served.
 */
export async function reloadCertificates(server: TlsServer, config: TlsConfig, logger: Logger): Promise<boolean> {
  try {
    server.setSecureContext(await secureContextOptions(config));
  } catch (error) {
    const reason = error instanceof TlsFilesError ? error.message : 'the certificate files could not be loaded';
    logger.error(`TLS certificate reload failed; still serving the previous certificate: ${reason}`);
    return false;
  }
  logger.info({ certFile: config.certFile }, 'TLS certificate reloaded');
  return true;
}

import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as never);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A certificate and its private key, PEM-encoded. */
export interface Pem {
  cert: string;
  key: string;
}

/** A certificate authority generated for a test, which issues server and client certificates. */
export interface TestCa extends Pem {
  /** A server certificate for 127.0.0.1 and localhost. */
  server(commonName?: string): Promise<Pem>;
  /** A client certificate (extended key usage clientAuth). */
  client(commonName: string): Promise<Pem>;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

let serial = 1;
const nextSerial = () => (serial++).toString(16).padStart(2, '0');

/** A fresh CA (ECDSA P-256, valid for a day), made inside the test: nothing is read from disk. */
export async function createTestCa(name = 'Registry Test CA'): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    keys: keys as never,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  const issue = async (commonName: string, usage: 'server' | 'client'): Promise<Pem> => {
    const leafKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: `CN=${commonName}`,
      issuer: caCert.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + DAY),
      signingKey: keys.privateKey as never,
      publicKey: leafKeys.publicKey as never,
      signingAlgorithm: ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        ...(usage === 'server'
          ? [
              new x509.SubjectAlternativeNameExtension([
                { type: 'ip', value: '127.0.0.1' },
                { type: 'dns', value: 'localhost' },
              ]),
            ]
          : []),
        await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
      ],
    });
    return { cert: cert.toString('pem'), key: await keyPem(leafKeys.privateKey) };
  };
  return {
    cert: caCert.toString('pem'),
    key: await keyPem(keys.privateKey),
    server: (commonName = 'registry.test') => issue(commonName, 'server'),
    client: (commonName) => issue(commonName, 'client'),
  };
}

/** A temporary directory for certificate files; `remove()` deletes it. */
export async function certificateDirectory(): Promise<{ path(name: string): string; write(name: string, content: string): Promise<string>; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'registry-tls-'));
  return {
    path: (name) => join(dir, name),
    write: async (name, content) => {
      await writeFile(join(dir, name), content, { mode: 0o600 });
      return join(dir, name);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

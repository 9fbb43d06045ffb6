import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/**
 * The PEM certificates of a bundle file (a CA file: REGISTRY_CA_FILE, TLS_CA_FILE), each checked to
 * parse. Throws an Error naming `setting` and the path when the file cannot be read, holds no
 * certificate or a block that is not one; never quotes the file's content.
 */
export async function readCertificateBundle(path: string, setting: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${setting}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const certificates = text.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new Error(`${setting}: ${path} holds no PEM certificate`);
  certificates.forEach((pem, index) => {
    try {
      new X509Certificate(pem);
    } catch {
      throw new Error(`${setting}: certificate ${index + 1} in ${path} does not parse`);
    }
  });
  return certificates;
}

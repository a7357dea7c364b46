import fs from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface Certificate {
  certFile: string;
  keyFile: string;
  /** For NODE_EXTRA_CA_CERTS: this certificate, after whatever NODE_EXTRA_CA_CERTS trusted already. */
  caFile: string;
}

/**
 * A self-signed certificate for the HTTPS receivers on 127.0.0.1/localhost, made fresh for each
 * test or benchmark run. Node reads NODE_EXTRA_CA_CERTS only when a process starts: whoever makes
 * it starts the processes that must trust it (bin/run-tests.js, the bench's launcher).
 */
export async function makeCertificate(dir: string): Promise<Certificate> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  const certFile = path.join(dir, 'tls-cert.pem');
  const keyFile = path.join(dir, 'tls-key.pem');
  const caFile = path.join(dir, 'tls-ca.pem');
  fs.writeFileSync(certFile, pems.cert);
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
  let trusted = '';
  try {
    if (process.env.NODE_EXTRA_CA_CERTS) trusted = fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8').trim() + '\n';
  } catch {
    // unreadable: Node would only have warned about it
  }
  fs.writeFileSync(caFile, trusted + pems.cert);
  return { certFile, keyFile, caFile };
}

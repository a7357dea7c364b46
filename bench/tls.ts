import fs from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface BenchTls {
  dir: string;
  keyFile: string;
  certFile: string;
  /** What NODE_EXTRA_CA_CERTS points at: our certificate, plus whatever was trusted already. */
  caFile: string;
}

/** A self-signed certificate for 127.0.0.1/localhost, made fresh for each bench run. */
export async function makeTls(dir: string): Promise<BenchTls> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: 'hooksync-bench receiver' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 2 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  const keyFile = path.join(dir, 'receiver.key');
  const certFile = path.join(dir, 'receiver.crt');
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600 });
  fs.writeFileSync(certFile, pems.cert);
  let extra = '';
  const previous = process.env.NODE_EXTRA_CA_CERTS;
  if (previous) {
    try {
      extra = fs.readFileSync(previous, 'utf8').trim() + '\n';
    } catch {
      // unreadable: Node would only have warned about it
    }
  }
  fs.writeFileSync(caFile, extra + pems.cert);
  return { dir, keyFile, certFile, caFile };
}

export function tlsFromDir(dir: string): BenchTls {
  return { dir, keyFile: path.join(dir, 'receiver.key'), certFile: path.join(dir, 'receiver.crt'), caFile: path.join(dir, 'ca.pem') };
}

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';
import { withParentDeathSignal } from '../../src/dev/child-processes';

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

/** True in a process started by rerunTrustingCertificate (bin/run-tests.js sets the same for test files). */
export function trustsTestCertificate(): boolean {
  return process.env.HOOKSYNC_TEST_TLS_TRUSTED === '1';
}

/**
 * Runs this script again, with a fresh certificate trusted (NODE_EXTRA_CA_CERTS) and 127.0.0.1,
 * where the receivers listen, allowed as a target; the certificate is removed when it ends.
 * Resolves with its exit code. Signals sent to this process alone are passed on.
 */
export async function rerunTrustingCertificate(prefix: string, log: (msg: string) => void): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    const tls = await makeCertificate(dir);
    const [command, argv] = withParentDeathSignal('SIGTERM', process.execPath, [...process.execArgv, ...process.argv.slice(1)]);
    const child = spawn(command, argv, {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: tls.caFile,
        HOOKSYNC_TEST_TLS_CERT: tls.certFile,
        HOOKSYNC_TEST_TLS_KEY: tls.keyFile,
        HOOKSYNC_TEST_TLS_TRUSTED: '1',
        HOOKSYNC_ALLOWED_TARGET_HOSTS: '127.0.0.1',
      },
    });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    return await new Promise<number>((resolve) => {
      child.once('error', (err) => {
        log(`could not start: ${err.message}`);
        resolve(1);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

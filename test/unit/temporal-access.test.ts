import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config';
import { temporalAccess } from '../../src/temporal/access';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const base = { DATABASE_URL: 'postgres://x@localhost/db' };

test('no TLS variables: plain text; any of them, or an API key, turns TLS on', () => {
  assert.deepEqual(temporalAccess(loadConfig(base)), {});
  assert.deepEqual(temporalAccess(loadConfig({ ...base, TEMPORAL_TLS: '1' })), { tls: {} });
  assert.deepEqual(temporalAccess(loadConfig({ ...base, TEMPORAL_API_KEY: 'key-1' })), { apiKey: 'key-1', tls: {} });
  assert.deepEqual(temporalAccess(loadConfig({ ...base, TEMPORAL_TLS_SERVER_NAME: 'temporal.internal' })), { tls: { serverNameOverride: 'temporal.internal' } });
});

test('certificates are file paths or PEM text (also with \\n escapes, as some secret stores give them)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-access-'));
  try {
    const certFile = path.join(dir, 'client.pem');
    fs.writeFileSync(certFile, PEM);
    const access = temporalAccess(loadConfig({ ...base, TEMPORAL_TLS_CERT: certFile, TEMPORAL_TLS_KEY: PEM.replace(/\n/g, '\\n'), TEMPORAL_TLS_CA: PEM }));
    assert.equal(Buffer.from(access.tls!.clientCertPair!.crt).toString(), PEM);
    assert.equal(Buffer.from(access.tls!.clientCertPair!.key).toString(), PEM);
    assert.equal(Buffer.from(access.tls!.serverRootCACertificate!).toString(), PEM);
    fs.writeFileSync(path.join(dir, 'not.pem'), 'hello');
    assert.throws(() => temporalAccess(loadConfig({ ...base, TEMPORAL_TLS_CA: path.join(dir, 'not.pem') })), /TEMPORAL_TLS_CA: .* is not a PEM file/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a certificate without its key (or the other way round) is refused, and an unreadable file is named, never a secret', () => {
  assert.throws(() => loadConfig({ ...base, TEMPORAL_TLS_CERT: PEM }), /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/);
  assert.throws(() => loadConfig({ ...base, TEMPORAL_TLS_KEY: PEM }), /go together/);
  assert.throws(() => temporalAccess(loadConfig({ ...base, TEMPORAL_TLS_CA: '/nonexistent/ca.pem' })), /TEMPORAL_TLS_CA: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/);
});

test('the shutdown grace period defaults to 30 s and is configurable', () => {
  assert.equal(loadConfig(base).HOOKSYNC_SHUTDOWN_GRACE_SECONDS, 30);
  assert.equal(loadConfig({ ...base, HOOKSYNC_SHUTDOWN_GRACE_SECONDS: '5' }).HOOKSYNC_SHUTDOWN_GRACE_SECONDS, 5);
  assert.throws(() => loadConfig({ ...base, HOOKSYNC_SHUTDOWN_GRACE_SECONDS: '-1' }), /HOOKSYNC_SHUTDOWN_GRACE_SECONDS/);
});

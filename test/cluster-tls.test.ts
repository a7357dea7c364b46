import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import selfsigned from 'selfsigned';
import type { Child } from './support/children';
import { startTemporalCluster, type TemporalCluster } from '../src/dev/temporal-cluster';
import { temporalAccess } from '../src/temporal/access';
import { connectTemporal } from '../src/temporal/client';
import { cliJson, postgresAccess, spawnHooksync, startApiProcess } from './support/cluster';
import { startStack, waitFor, type Stack } from './support/harness';
import { ROOT, stackEnv, syncPages, WEBHOOK_SECRET } from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

// A Temporal server that requires mutual TLS on its frontend, with certificates made here: the API,
// the CLI and the worker reach it with TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA
// (as paths and as PEM text), and nothing reaches it without a client certificate.
describe('hooksync against a Temporal cluster with mTLS', { timeout: 10 * 60_000 }, () => {
  const WORK = path.join(ROOT, '.hooksync', `cluster-tls-${process.pid}`);
  const suffix = crypto.randomBytes(4).toString('hex');
  const databases = { main: `temporal_tls_${suffix}`, visibility: `temporal_tls_${suffix}_vis` };
  const log = (msg: string) => process.stderr.write(`[cluster-tls] ${msg}\n`);
  let stack: Stack;
  let cluster: TemporalCluster;
  let receiver: Receiver;
  const children: Child[] = [];
  let tlsEnv: Record<string, string>;
  let caFile: string;

  before(async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    fs.mkdirSync(WORK, { recursive: true });
    const notAfterDate = new Date(Date.now() + 24 * 3600 * 1000);
    const ca = await selfsigned.generate([{ name: 'commonName', value: 'hooksync test CA' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      notAfterDate,
      extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
    });
    const issued = (cn: string) => selfsigned.generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256', notAfterDate, ca: { key: ca.private, cert: ca.cert } });
    const [server, client] = await Promise.all([issued('localhost'), issued('hooksync-worker')]);
    const write = (name: string, text: string) => {
      const file = path.join(WORK, name);
      fs.writeFileSync(file, text, { mode: 0o600 });
      return file;
    };
    caFile = write('ca.pem', ca.cert);
    const tls = { certFile: write('server.pem', server.cert), keyFile: write('server-key.pem', server.private), caFile, serverName: 'localhost' };
    // The client certificate as a path, its key as PEM text (as a secret store hands it out).
    tlsEnv = { TEMPORAL_TLS_CERT: write('client.pem', client.cert), TEMPORAL_TLS_KEY: client.private, TEMPORAL_TLS_CA: caFile, TEMPORAL_TLS_SERVER_NAME: 'localhost' };

    stack = await startStack({ worker: false, api: false });
    receiver = await startReceiver();
    cluster = await startTemporalCluster({ dir: path.join(WORK, 'temporal'), postgres: postgresAccess(stack.config.DATABASE_URL), databases, tls, log });
  });

  after(async () => {
    await Promise.allSettled(children.map((c) => c.stop(5_000)));
    await cluster?.stop().catch(() => {});
    for (const db of Object.values(databases)) await stack?.pool.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
    await Promise.allSettled([stack?.close(), receiver?.close()]);
    fs.rmSync(WORK, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string | undefined> = {}) =>
    stackEnv(stack, { TEMPORAL_ADDRESS: cluster.address, TEMPORAL_NAMESPACE: 'default', HOOKSYNC_ALLOWED_TARGET_HOSTS: '127.0.0.1', ...tlsEnv, ...extra });

  test('without a client certificate the server refuses; with one, clients connect', async () => {
    const answers = async (vars: Record<string, string | undefined>) => {
      const t = connectTemporal(cluster.address, 'default', temporalAccess({ TEMPORAL_TLS: false, ...vars }));
      try {
        await t.connection.withDeadline(Date.now() + 5_000, () => t.connection.workflowService.getSystemInfo({}));
        return true;
      } catch {
        return false;
      } finally {
        await t.close();
      }
    };
    assert.equal(await answers({}), false, 'plain text is refused');
    assert.equal(await answers({ TEMPORAL_TLS_CA: caFile, TEMPORAL_TLS_SERVER_NAME: 'localhost' }), false, 'TLS without a client certificate is refused');
    assert.equal(await answers(tlsEnv), true, 'mTLS with the client certificate answers');
  });

  test('migrate, api, worker and the CLI work over mTLS: an event is applied and its row delivered', async () => {
    const migrate = spawnHooksync('migrate', 'migrate', env({ LOG_LEVEL: 'warn' }), WORK);
    assert.equal((await migrate.exited).code, 0, migrate.tail());
    assert.doesNotMatch(migrate.tail(), /could not register the search attributes/, 'the search attributes were registered over mTLS');

    const worker = spawnHooksync('worker', 'worker', env(), WORK);
    children.push(worker);
    const api = await startApiProcess('api', env(), WORK);
    children.push(api.child);

    const integration = await cliJson(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', WEBHOOK_SECRET], env());
    await cliJson(['httpsync', 'create', integration.id, '--url', receiver.url, '--period', '3600', '--on-insert'], env());
    const event = customerEvent({ type: 'customer.created', id: 'cus_Tls1', created: Math.floor(Date.now() / 1000), email: 'tls@example.com' });
    const res = await waitFor(
      async () => {
        const r = await postEvent(api.url, integration.id, event, WEBHOOK_SECRET);
        return r.status === 200 ? r : undefined;
      },
      { what: 'the API to accept the event', timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.equal(res.status, 200);
    const row = await waitFor(async () => syncPages(receiver).flatMap((p) => (p.accepted ? p.body.rows : [])).find((r: any) => r.stripe_id === 'cus_Tls1'), {
      what: 'the row at the receiver',
      timeoutMs: 90_000,
      intervalMs: 200,
    }).catch((err: Error) => assert.fail(`${err.message}\nworker: ${worker.tail()}\napi: ${api.child.tail()}`));
    assert.equal(row.email, 'tls@example.com');
  });
});

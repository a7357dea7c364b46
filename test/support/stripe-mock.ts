import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { findStripeMock } from '../../src/dev/stripe-mock';
import { freePort, probePort } from '../../src/ports';
import { splice } from './sockets';

/**
 * stripe-mock (found or built by src/dev/stripe-mock.ts) on a free port, behind a TLS front with
 * the certificate bin/run-tests.js made: hooksync reaches it at https://127.0.0.1:<port> as it
 * would reach api.stripe.com, without HOOKSYNC_ALLOW_HTTP.
 */
export async function startStripeMock(): Promise<{ url: string; httpUrl: string; close(): Promise<void> }> {
  const certFile = process.env.HOOKSYNC_TEST_TLS_CERT;
  const keyFile = process.env.HOOKSYNC_TEST_TLS_KEY;
  if (!certFile || !keyFile) throw new Error('HOOKSYNC_TEST_TLS_CERT/KEY not set: run the tests with `npm test`');
  const bin = await findStripeMock((msg) => console.error(`[stripe-mock] ${msg}`));
  if (!bin) throw new Error('no stripe-mock: install Go (the tests build it) or set STRIPE_MOCK_PATH');
  const port = await freePort('127.0.0.1');
  let output = '';
  const child = spawn(bin, ['-http-addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while ((await probePort('127.0.0.1', port)) !== 'in-use') {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`stripe-mock did not start on port ${port}: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const sockets = new Set<net.Socket>();
  const front = tls.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (client) => {
    const upstream = net.connect(port, '127.0.0.1');
    splice(client, upstream, sockets);
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `https://127.0.0.1:${(front.address() as net.AddressInfo).port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => front.close(() => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

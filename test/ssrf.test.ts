import assert from 'node:assert/strict';
import dns from 'node:dns';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { AddressGuard, parseAllowList, setTargetGuard } from '../src/http/address-guard';
import type { IntegrationView } from '../src/services/integrations';
import { httpSyncWorkflowId } from '../src/contract/names';
import { ServiceError } from '../src/services/errors';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { updateTarget } from '../src/services/targets';
import { type TargetView } from '../src/services/target-view';
import { startStack, waitFor, type Stack } from './support/harness';
import { insertCustomers, keysOf, newIntegration, newTarget, runCli, stackEnv, syncPages, waitForConvergence } from './support/httpsync';
import { workflowsOfIntegration } from './support/ingest';
import { startReceiver, type Receiver } from './support/receiver';

/**
 * No SSRF: a target whose host is, or resolves to, a loopback, private, link-local, CGNAT,
 * unique-local or metadata address is refused when created or changed (through the service layer,
 * the management API and the CLI), and again when a delivery connects: nothing is saved, no
 * workflow starts, nothing reaches the internal address. Only loopback addresses are used: the test
 * runner allows 127.0.0.1 (its receivers), so 127.0.0.2 stands for "internal", and a resolver in
 * this process makes names resolve to 10.0.0.1 or 169.254.169.254.
 */

const TOKEN = 'ssrf-test-token-0123456789';

/** Names this process resolves its own way; everything else as usual. */
const fakeDns: Record<string, string[]> = {
  'internal.test': ['10.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'metadata6.test': ['fd00:ec2::254'],
  'cgnat.test': ['100.64.1.1'],
  'mixed.test': ['127.0.0.1', '10.0.0.1'],
};
const lookup = (host: string, opts: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => {
  const found = fakeDns[host];
  if (!found) return dns.lookup(host, opts, cb);
  cb(null, found.map((address) => ({ address, family: net.isIP(address) })));
};

/** A TCP server on 127.0.0.2 that counts every connection: anything reaching it is a failure. */
async function internalHost(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = net.createServer((socket) => {
    n++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  return { port: (server.address() as AddressInfo).port, connections: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

describe('targets may not reach internal addresses', () => {
  let stack: Stack;
  let integration: IntegrationView;
  let internal: Awaited<ReturnType<typeof internalHost>>;
  let receiver: Receiver;

  before(async () => {
    setTargetGuard(new AddressGuard({ allow: parseAllowList(process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS), lookup }));
    [stack, internal, receiver] = await Promise.all([startStack({ env: { HOOKSYNC_API_TOKEN: TOKEN } }), internalHost(), startReceiver()]);
    integration = await newIntegration(stack);
  });
  after(async () => {
    setTargetGuard(undefined);
    await Promise.allSettled([stack?.close(), internal?.close(), receiver?.close()]);
  });

  const url = (host: string, port = internal.port) => `https://hook:pw-Secr3t@${host}:${port}/sync`;
  const refusals: Array<[string, RegExp]> = [
    ['127.0.0.2', /127\.0\.0\.2 is a loopback address/],
    ['[::ffff:127.0.0.2]', /::ffff:7f00:2 is a loopback address|127\.0\.0\.2 is a loopback/],
    ['[::1]', /::1 is a loopback address/],
    ['0.0.0.0', /the unspecified address/],
    ['169.254.169.254', /169\.254\.169\.254 is a cloud metadata address/],
    ['100.64.0.9', /carrier-grade NAT/],
    ['internal.test', /internal\.test resolves to 10\.0\.0\.1, a private address/],
    ['metadata.test', /metadata\.test resolves to 169\.254\.169\.254, a cloud metadata address/],
    ['metadata6.test', /resolves to fd00:ec2::254, a cloud metadata address/],
    ['cgnat.test', /resolves to 100\.64\.1\.1, a carrier-grade NAT address/],
    ['mixed.test', /mixed\.test resolves to 10\.0\.0\.1, a private address/],
  ];

  /** Nothing of a refused request remains: no target row, no HTTP Sync workflow, no connection to the internal host. */
  async function assertNothingCreated(of: IntegrationView = integration, targets = 0): Promise<void> {
    const { rows } = await stack.pool.query('SELECT id FROM sync_targets WHERE integration_id = $1', [of.id]);
    assert.equal(rows.length, targets, 'target rows');
    // The targets' own workflows by their known ids (describe is strongly consistent); the listing
    // (which may lag, but never shows what was never started) shows no other.
    const known = rows.map((r) => httpSyncWorkflowId(r.id));
    for (const id of known) assert.equal((await stack.temporal.client.workflow.getHandle(id).describe()).type, 'httpSyncWorkflow');
    const others = (await workflowsOfIntegration(stack.temporal.client, of.id)).filter((w) => w.type === 'httpSyncWorkflow' && !known.includes(w.workflowId));
    assert.deepEqual(others.map((w) => w.workflowId), [], 'no other HTTP Sync workflow');
    assert.equal(internal.connections(), 0, 'connections to the internal host');
  }

  test('create refuses each kind of internal address, says which and why, and creates nothing', async () => {
    for (const [host, why] of refusals) {
      await assert.rejects(
        newTarget(stack, integration.id, receiver, { url: url(host) }),
        (err: Error) => {
          assert.ok(err instanceof ServiceError, String(err));
          assert.equal(err.code, 'target_refused');
          assert.equal(err.status, 422);
          assert.match(err.message, why);
          assert.match(err.message, /HOOKSYNC_ALLOWED_TARGET_HOSTS/);
          assert.ok(err.message.includes('https://***:***@'), 'names the masked URL');
          assert.ok(!err.message.includes('pw-Secr3t'), 'not the password');
          return true;
        },
        host,
      );
    }
    await assertNothingCreated();
  });

  test('the management API answers 422 target_refused and creates nothing', async () => {
    const post = (body: unknown) =>
      fetch(`${stack.apiUrl}/v1/httpsync`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const host of ['127.0.0.2', 'metadata.test']) {
      const res = await post({ integration_id: integration.id, url: url(host) });
      assert.equal(res.status, 422);
      const body = (await res.json()) as { code: string; detail: string };
      assert.deepEqual(Object.keys(body).sort(), ['code', 'detail']);
      assert.equal(body.code, 'target_refused');
      assert.ok(!body.detail.includes('pw-Secr3t'));
    }
    await assertNothingCreated();
  });

  test('the CLI refuses (exit 1, the reason, no password) and creates nothing', async () => {
    const r = await runCli(['httpsync', 'create', integration.id, '--url', url('127.0.0.2'), '--json'], { env: stackEnv(stack) });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(JSON.parse(r.stdout).error.code, 'target_refused');
    assert.match(r.stderr, /^error: the target URL https:\/\/\*\*\*:\*\*\*@127\.0\.0\.2:\d+\/sync is refused: 127\.0\.0\.2 is a loopback address/m);
    assert.ok(!(r.stdout + r.stderr).includes('pw-Secr3t'));
    await assertNothingCreated();
  });

  test('a host name listed in HOOKSYNC_ALLOWED_TARGET_HOSTS that resolves to a metadata address is refused, also with a range holding it listed', async () => {
    const listed = `${process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS},metadata.test,metadata6.test,internal.test,169.254.0.0/16,fd00::/8`;
    setTargetGuard(new AddressGuard({ allow: parseAllowList(listed), lookup }));
    try {
      for (const [host, address] of [['metadata.test', '169.254.169.254'], ['metadata6.test', 'fd00:ec2::254']]) {
        await assert.rejects(newTarget(stack, integration.id, receiver, { url: url(host!) }), (err: Error) => {
          assert.ok(err instanceof ServiceError && err.code === 'target_refused', String(err));
          assert.ok(err.message.includes(`${host} resolves to ${address}, a cloud metadata address`), err.message);
          return true;
        });
      }
      await assertNothingCreated();
    } finally {
      setTargetGuard(new AddressGuard({ allow: parseAllowList(process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS), lookup }));
    }
  });

  test('an update to an internal URL is refused and changes nothing', async () => {
    const other = await newIntegration(stack);
    const target = await newTarget(stack, other.id, receiver);
    const before = (await stack.pool.query('SELECT url, period_seconds FROM sync_targets WHERE id = $1', [target.id])).rows[0];
    const seen = receiver.requests.length;
    await assert.rejects(updateTarget(stack.deps, target.id, { url: url('internal.test'), periodSeconds: 5 }), /target_refused|refused: internal\.test resolves to 10\.0\.0\.1/);
    const res = await fetch(`${stack.apiUrl}/v1/httpsync/${target.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: url('127.0.0.2'), page_size: 7 }),
    });
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as { code: string }).code, 'target_refused');
    assert.deepEqual((await stack.pool.query('SELECT url, period_seconds FROM sync_targets WHERE id = $1', [target.id])).rows[0], before);
    assert.equal((await targetInfo(stack.deps, target.id)).page_size, 200);
    assert.equal(receiver.requests.length, seen, 'no verification POST went anywhere');
    await assertNothingCreated(other, 1);
  });
});

describe('the guard at every connection: a name that starts resolving to metadata is refused mid-life', () => {
  let stack: Stack;
  let receiver: Receiver;
  let target: TargetView;
  let integration: IntegrationView;
  /** Where `localhost` resolves in this process (the receiver's certificate is for localhost). */
  let localhostIs = '127.0.0.1';

  before(async () => {
    const rebinding = (host: string, opts: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) =>
      host === 'localhost' ? cb(null, [{ address: localhostIs, family: 4 }]) : dns.lookup(host, opts, cb);
    // Allowed by its address (127.0.0.1), not by its name: the answer of each lookup decides.
    setTargetGuard(new AddressGuard({ allow: parseAllowList('127.0.0.1'), lookup: rebinding }));
    [stack, receiver] = await Promise.all([startStack(), startReceiver()]);
    // Every answer closes its connection, so every POST connects (and looks up) anew.
    receiver.respondWith(() => ({ status: 200, headers: { connection: 'close' } }));
    integration = await newIntegration(stack);
    target = await newTarget(stack, integration.id, receiver, { url: receiver.url.replace('@127.0.0.1:', '@localhost:'), periodSeconds: 3600 });
  });
  after(async () => {
    setTargetGuard(undefined);
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  test('deliveries stop with a clear error while the name points at 169.254.169.254, and resume after', async () => {
    await insertCustomers(stack.pool, integration.table, keysOf('cus_ssrf_a', 3));
    await triggerTarget(stack.deps, target.id);
    await waitForConvergence(stack, receiver, integration.table, { what: 'the first rows' });
    const delivered = syncPages(receiver).length;

    localhostIs = '169.254.169.254';
    await insertCustomers(stack.pool, integration.table, keysOf('cus_ssrf_b', 2));
    await triggerTarget(stack.deps, target.id);
    const info = await waitFor(
      async () => {
        const i = await targetInfo(stack.deps, target.id);
        return /refused/.test(i.last_error ?? '') && i;
      },
      { timeoutMs: 30_000, what: 'the refusal in the target status' },
    );
    assert.match(info.last_error!, /^refused to connect: localhost resolves to 169\.254\.169\.254, a cloud metadata address; list it in HOOKSYNC_ALLOWED_TARGET_HOSTS/);
    assert.equal(info.rows_waiting, 2);
    assert.equal(syncPages(receiver).length, delivered, 'nothing was sent while refused');

    localhostIs = '127.0.0.1';
    await triggerTarget(stack.deps, target.id);
    await waitForConvergence(stack, receiver, integration.table, { what: 'the rows after the name is public again', timeoutMs: 60_000 });
  });
});

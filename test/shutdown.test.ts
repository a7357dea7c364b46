import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { httpSyncWorkflowId } from '../src/contract/names';
import { freePort } from '../src/ports';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  spawnWorker,
  stackEnv,
  syncPages,
  waitForConvergence,
  WEBHOOK_SECRET,
  type WorkerChild,
} from './support/httpsync';
import { spawnHooksync } from './support/cluster';
import { startReceiver, type Receiver } from './support/receiver';
import { waitingForWorker } from './support/runs';
import { customerEvent, stripeSignature } from './support/stripe';

// SIGTERM, as an orchestrator sends it: the API answers what it has in hand and takes nothing new,
// the worker lets its activities finish; both exit 0 within HOOKSYNC_SHUTDOWN_GRACE_SECONDS, and
// past it they exit anyway (code 1) with nothing lost.
describe('graceful, bounded shutdown of hooksync api and hooksync worker', () => {
  let stack: Stack;
  let receiver: Receiver;
  const workers: WorkerChild[] = [];
  const logDir = require('node:path').join(__dirname, '..', '.hooksync', `shutdown-${process.pid}`);

  before(async () => {
    [stack, receiver] = await Promise.all([startStack({ worker: false, api: false }), startReceiver()]);
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await Promise.all([stack?.close(), receiver?.close()]);
    require('node:fs').rmSync(logDir, { recursive: true, force: true });
  });

  async function startApi(extra: Record<string, string> = {}) {
    const port = await freePort('127.0.0.1');
    const child = spawnHooksync(`api-${port}`, 'api', stackEnv(stack, { PORT: String(port), LOG_LEVEL: 'info', ...extra }), logDir);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, { what: 'the API', timeoutMs: 90_000, intervalMs: 200 });
    return { child, port };
  }

  /**
   * A signed webhook whose body is sent in two halves; `received` resolves once the API handles it
   * (Node answers `Expect: 100-continue` as it hands the request to the API), `response` with its response.
   */
  function slowWebhook(port: number, integrationId: string) {
    const payload = JSON.stringify(customerEvent({ type: 'customer.created', id: `cus_Stop${port}`, created: Math.floor(Date.now() / 1000) }));
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: `/v1/webhooks/${integrationId}`,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET),
        expect: '100-continue',
      },
    });
    const received = new Promise<void>((resolve) => req.once('continue', resolve));
    const response = new Promise<{ status: number; connection?: string }>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
      });
      req.on('error', reject);
    });
    response.catch(() => {});
    req.write(payload.slice(0, 40));
    return { finish: () => req.end(payload.slice(40)), received, response };
  }

  test('the API answers the request in flight, refuses new connections, and exits 0', async () => {
    const integration = await newIntegration(stack);
    const { child, port } = await startApi();
    const inFlight = slowWebhook(port, integration.id);
    await inFlight.received;
    const stoppedAt = Date.now();
    child.proc.kill('SIGTERM');
    await waitFor(async () => (await child.waitForOutput(/"msg":"stopping"/, 10_000)) !== undefined, { what: 'the API to begin stopping' });
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`), 'no new connections while stopping');
    inFlight.finish();
    const res = await inFlight.response;
    assert.equal(res.status, 200, 'the request in flight is answered');
    assert.equal(res.connection, 'close', 'and its connection closed');
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.tail());
    assert.ok(Date.now() - stoppedAt < 30_000);
  });

  test('past the grace period the API closes what is unfinished and exits 1', async () => {
    const integration = await newIntegration(stack);
    const { child, port } = await startApi({ HOOKSYNC_SHUTDOWN_GRACE_SECONDS: '1' });
    const stuck = slowWebhook(port, integration.id);
    await stuck.received;
    const stoppedAt = Date.now();
    child.proc.kill('SIGTERM');
    const exit = await child.exited;
    const took = Date.now() - stoppedAt;
    assert.equal(exit.code, 1, child.tail());
    assert.ok(took >= 1_000 && took < 8_000, `stopped after ${took} ms`);
    await assert.rejects(stuck.response, 'the unfinished request lost its connection (an upstream sends it again)');
    assert.match(child.tail(), /grace period over/);
  });

  async function startWorker(extra: Record<string, string> = {}) {
    const w = spawnWorker(stackEnv(stack, { LOG_LEVEL: 'info', ...extra }));
    workers.push(w);
    await waitFor(
      async () => {
        if (w.child.exitCode !== null) throw new Error(`the worker exited: ${w.stderr()}`);
        const r = await stack.temporal.connection.workflowService.describeTaskQueue({
          namespace: stack.config.TEMPORAL_NAMESPACE,
          taskQueue: { name: stack.config.HOOKSYNC_TASK_QUEUE },
          taskQueueType: 2,
        });
        return (r.pollers ?? []).some((p) => p.identity?.startsWith(`${w.child.pid}@`));
      },
      { what: 'the worker to poll', timeoutMs: 90_000, intervalMs: 200 },
    );
    return w;
  }

  test('the worker lets the page in flight finish, exits 0, and a later worker goes on from there', async () => {
    const integration = await newIntegration(stack);
    await insertCustomers(stack.pool, integration.table, keysOf('cus_stopw', 30));
    receiver.respondWith((r) => ({ status: 200, delayMs: r.headers['hooksync-verification'] ? 0 : 3_000 }));
    const first = await startWorker();
    const target = await newTarget(stack, integration.id, receiver, { periodSeconds: 3600, pageSize: 10 });
    const page = await waitFor(async () => syncPages(receiver).find((r) => r.status === 0), { what: 'a page in flight', timeoutMs: 60_000, intervalMs: 20 });
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    assert.equal(exit.code, 0, first.stderr());
    assert.equal(page.accepted, true, 'the POST in flight was answered 2xx before the worker exited');
    assert.ok(page.endedAt !== undefined);
    const pagesAtExit = syncPages(receiver).length;
    // What the workflow does next waits for a worker (none runs now).
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id));
    await waitFor(() => waitingForWorker(handle), { what: 'the sync to wait for a worker', timeoutMs: 60_000 });
    assert.equal(syncPages(receiver).length, pagesAtExit, 'nothing is sent after the worker exited');

    receiver.respondWith(() => ({ status: 200 }));
    await startWorker();
    await waitForConvergence(stack, receiver, integration.table, { timeoutMs: 60_000 });
    // The page the first worker finished is not sent again: its 2xx was recorded before it exited.
    assert.equal(acceptedPages(receiver).filter((p) => p.pageId === page.pageId).length, 1);
  });

  test('within a short grace period the worker cancels its activity, hands it back and exits; the page is delivered later', async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    const other = await startReceiver();
    try {
      const integration = await newIntegration(stack);
      await insertCustomers(stack.pool, integration.table, keysOf('cus_stopx', 12));
      other.respondWith((r) => ({ status: 200, delayMs: r.headers['hooksync-verification'] ? 0 : 60_000 }));
      const first = await startWorker({ HOOKSYNC_SHUTDOWN_GRACE_SECONDS: '2' });
      await newTarget(stack, integration.id, other, { periodSeconds: 3600, pageSize: 10, timeoutSeconds: 120 });
      const page = await waitFor(async () => syncPages(other).find((r) => r.status === 0), { what: 'a page in flight', timeoutMs: 60_000, intervalMs: 20 });
      const stoppedAt = Date.now();
      first.child.kill('SIGTERM');
      const exit = await first.exited;
      const took = Date.now() - stoppedAt;
      assert.ok(took < 2_000 + 5_000, `the worker stopped ${took} ms after SIGTERM (grace 2 s)`);
      assert.equal(exit.code, 0, first.stderr());
      await waitFor(async () => page.endedAt !== undefined, { what: 'the cut POST to end' });
      assert.equal(page.accepted, false);

      other.respondWith(() => ({ status: 200 }));
      await startWorker();
      await waitForConvergence(stack, other, integration.table, { timeoutMs: 90_000 });
      assert.equal(other.maxConcurrent, 1);
    } finally {
      await other.close();
    }
  });
});

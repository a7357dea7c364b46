import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpSyncWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  allText,
  assertNoSecret,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  secretForms,
  startPollingWorker,
  stackEnv,
  syncPages,
  targetStatus,
  updateCustomers,
  waitForConvergence,
  type WorkerChild,
} from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { waitingForWorker } from './support/runs';

// Guarantee 8: a worker process killed in the middle of a sync loses nothing once another one
// runs; and (13) the worker's logs never show the Basic Auth password.
describe('HTTP Sync across a worker crash', () => {
  let stack: Stack;
  let receiver: Receiver;
  const PASSWORD = 'Pw-worker-Hn4k8Qz1Ye6';
  const workers: WorkerChild[] = [];

  before(async () => {
    [stack, receiver] = await Promise.all([startStack({ worker: false }), startReceiver({ user: 'workeruser', password: PASSWORD })]);
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await Promise.all([stack?.close(), receiver?.close()]);
  });

  const startWorkerProcess = () => startPollingWorker(stack, workers);

  test('SIGKILL of the worker mid-sync, then a new worker: every row arrives, in order, one POST at a time', async (t) => {
    const integration = await newIntegration(stack);
    const keys = keysOf('cus_crash', 200);
    await insertCustomers(stack.pool, integration.table, keys);
    // A slow receiver: 40 pages of 5 take several seconds.
    receiver.respondWith(() => ({ status: 200, delayMs: 120 }));

    const first = await startWorkerProcess();
    // The killed worker's POST may still be handled by the receiver: the next delivery waits until
    // its recorded in-flight deadline (the target's timeout, plus a margin) has passed (lock-delay).
    const target = await newTarget(stack, integration.id, receiver, { periodSeconds: 3600, pageSize: 5, timeoutSeconds: 10 });
    await waitFor(async () => acceptedPages(receiver).length >= 8, { what: 'the sync to be under way', timeoutMs: 30_000, intervalMs: 20 });
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const acceptedAtKill = acceptedPages(receiver).length;
    assert.ok(acceptedAtKill < 40, `the sync was not over when the worker died (${acceptedAtKill} pages)`);

    // While no worker runs, rows keep changing.
    await insertCustomers(stack.pool, integration.table, keysOf('cus_crash', 30, 200));
    await updateCustomers(stack.pool, integration.table, keys.slice(0, 20));
    const postsBeforeRestart = syncPages(receiver).length;
    // The killed activity timed out (no heartbeat) and what the workflow does next waits for a worker.
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id));
    await waitFor(() => waitingForWorker(handle), { what: 'the sync to wait for a worker', timeoutMs: 60_000 });
    assert.equal(syncPages(receiver).length, postsBeforeRestart, 'nothing is delivered without a worker');

    const second = await startWorkerProcess();
    await explained(stack, target.id, waitForConvergence(stack, receiver, integration.table, { timeoutMs: 60_000, what: 'every row after the restart' }));

    // In order; a page re-sent after the crash (its 2xx came after the last heartbeat) is the
    // same page with the same id, so the receiver can tell.
    assertVersionsInOrder(receiver);
    const pages = acceptedPages(receiver);
    const idOfRows = new Map<string, string>();
    const rowsOfId = new Map<string, Set<string>>();
    let resent = 0;
    for (const p of pages) {
      const versions = p.body.rows.map((r: any) => `${r.stripe_id}@${r.balance}`);
      const rowsKey = versions.join(',');
      const seenId = idOfRows.get(rowsKey);
      if (seenId) {
        resent++;
        assert.equal(p.pageId, seenId, 'a re-sent page has its page id');
      } else idOfRows.set(rowsKey, p.pageId!);
      // The same id never carries a row version that was not in the page first sent with it.
      const seenRows = rowsOfId.get(p.pageId!);
      if (seenRows) for (const v of versions) assert.ok(seenRows.has(v), `${v} is new under the known page id ${p.pageId}`);
      else rowsOfId.set(p.pageId!, new Set(versions));
    }
    t.diagnostic(`${acceptedAtKill} pages accepted when the worker was killed; ${resent} pages sent again after the crash; ${pages.length} pages in all`);
    assert.equal(receiver.maxConcurrent, 1);
    const status = await targetStatus(stack, target.id);
    assert.match(status.progress.lastError ?? '', /heartbeat|worker/i);
    const d = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id)).describe();
    assert.equal(d.status.name, 'RUNNING');

    // The logs of both worker processes never show the credentials.
    const secrets = secretForms('workeruser', PASSWORD);
    for (const [i, w] of [first, second].entries()) {
      assert.ok(w.stderr().length > 0, `worker ${i + 1} logged something`);
      assertNoSecret(w.stderr(), secrets, `the logs of worker process ${i + 1}`);
    }
    assert.match(second.stderr(), /page delivered|worker running/);
    // Nor the history of the target.
    const history = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(target.id)).fetchHistory();
    assertNoSecret(allText(history), secrets, 'the target\'s history');
  });
});

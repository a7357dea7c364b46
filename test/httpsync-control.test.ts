import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setPaused, triggerTarget } from '../src/services/target-signals';
import { targetInfo } from '../src/services/target-info';
import { updateTarget } from '../src/services/targets';
import { triggerSignal } from '../src/contract/messages';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  syncPages,
  targetHandle,
  targetStatus,
  updateCustomers,
  waitForConvergence,
  WEBHOOK_SECRET,
} from './support/httpsync';
import { type Receiver, receiverSet } from './support/receiver';
import { historyLength, signalTaken } from './support/runs';
import { customerEvent, postEvent } from './support/stripe';

// Guarantees 7 (trigger), 9 (independent targets, pause/resume), 10 (on-insert latency) and
// 11 (update, pause and resume reach the running workflow).
describe('HTTP Sync control', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;
  const rowsAt = (r: Receiver, prefix: string) => acceptedPages(r).flatMap((p) => p.body.rows).filter((row: any) => row.stripe_id.startsWith(prefix));
  const waitUntilWaiting = (targetId: string) =>
    waitFor(async () => {
      const s = await targetStatus(stack, targetId);
      return s.state === 'waiting' ? s : undefined;
    }, { what: 'the target to wait for its next sync' });

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  test('trigger starts a sync at once in the middle of a 3600 s period', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600 });
    // A second target of the same integration, triggered first: once it has the rows, the first
    // one has had every chance to send them too, had it been going to without a trigger.
    const witnessRcv = await receiver();
    const witness = await newTarget(stack, integration.id, witnessRcv, { periodSeconds: 3600 });
    const latencies: number[] = [];
    for (let round = 0; round < 3; round++) {
      const waiting = await waitUntilWaiting(target.id);
      assert.ok(Date.parse(waiting.nextSyncAt!) - Date.now() > 3000_000, 'the next periodic sync is an hour away');
      await insertCustomers(stack.pool, integration.table, keysOf(`cus_trig${round}_`, 3));
      await waitUntilWaiting(witness.id);
      await triggerTarget(stack.deps, witness.id);
      await waitFor(async () => rowsAt(witnessRcv, `cus_trig${round}_`).length === 3, { what: 'the rows at the triggered second target' });
      assert.equal(rowsAt(rcv, `cus_trig${round}_`).length, 0, 'nothing is sent before the trigger');
      const at = Date.now();
      await triggerTarget(stack.deps, target.id);
      await waitFor(async () => rowsAt(rcv, `cus_trig${round}_`).length === 3, { what: 'the triggered sync', timeoutMs: 10_000 });
      latencies.push(Date.now() - at);
    }
    assert.ok(Math.max(...latencies) < 5_000, `trigger → rows: ${latencies.join(', ')} ms`);
    // A plain `trigger` signal from any Temporal client works too.
    await waitUntilWaiting(target.id);
    await insertCustomers(stack.pool, integration.table, ['cus_trig_raw']);
    await targetHandle(stack, target.id).signal('trigger');
    await waitFor(async () => rowsAt(rcv, 'cus_trig_raw').length === 1, { what: 'the sync of the raw trigger signal', timeoutMs: 10_000 });
  });

  test('two targets of one integration progress independently; a paused or failing one does not hold the other; resume delivers what collected', async () => {
    const integration = await newIntegration(stack);
    const [a, b] = [await receiver(), await receiver()];
    await insertCustomers(stack.pool, integration.table, keysOf('cus_two', 20));
    const ta = await newTarget(stack, integration.id, a, { periodSeconds: 3600, pageSize: 5 });
    const tb = await newTarget(stack, integration.id, b, { periodSeconds: 1, pageSize: 5 });
    await Promise.all([waitForConvergence(stack, a, integration.table), waitForConvergence(stack, b, integration.table)]);

    // A is paused: B goes on.
    await setPaused(stack.deps, ta.id, true);
    const aRequests = a.requests.length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_two', 10, 20));
    await updateCustomers(stack.pool, integration.table, keysOf('cus_two', 5));
    await triggerTarget(stack.deps, ta.id);
    await waitForConvergence(stack, b, integration.table, { what: 'B to go on while A is paused' });
    assert.equal(a.requests.length, aRequests, 'nothing is sent to the paused target');
    assert.equal((await targetStatus(stack, ta.id)).state, 'paused');

    // B's receiver fails: A, resumed, gets everything that collected meanwhile.
    b.respondWith(() => ({ status: 500 }));
    await insertCustomers(stack.pool, integration.table, keysOf('cus_two', 5, 30));
    await waitFor(async () => syncPages(b).some((p) => p.status === 500), { what: 'B to fail' });
    await setPaused(stack.deps, ta.id, false);
    await waitForConvergence(stack, a, integration.table, { what: 'A to catch up after resume while B fails' });
    assert.equal((await targetStatus(stack, tb.id)).state === 'retrying' || (await targetStatus(stack, tb.id)).retry !== undefined, true);

    b.respondWith(() => ({ status: 200 }));
    await waitForConvergence(stack, b, integration.table, { what: 'B to catch up' });
    for (const r of [a, b]) {
      assertVersionsInOrder(r, { strict: true });
      assert.equal(r.maxConcurrent, 1);
    }
  });

  test('pause and delete in the middle of a delivery: at most the page in flight, then nothing more', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    rcv.respondWith(() => ({ status: 200, delayMs: 150 }));
    await insertCustomers(stack.pool, integration.table, keysOf('cus_stop', 200));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 2 });
    const pages = () => syncPages(rcv).length;

    await waitFor(async () => pages() >= 5, { what: 'the delivery to be under way', intervalMs: 20 });
    await setPaused(stack.deps, target.id, true);
    const atPause = pages();
    // The workflow shows "paused" only once its delivery activity has returned: nothing more is sent after that.
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'paused', { what: 'the workflow to be paused' });
    assert.ok(pages() - atPause <= 1, `${pages() - atPause} POSTs after the pause`);
    assert.ok(pages() < 100, 'paused long before the end');
    const paused = pages();

    await setPaused(stack.deps, target.id, false);
    await waitFor(async () => pages() >= paused + 5, { what: 'the delivery to go on after resume', intervalMs: 20 });
    const { deleteTarget } = await import('../src/services/targets');
    await deleteTarget(stack.deps, target.id);
    const atDelete = pages();
    // The workflow completes only once its delivery activity has returned: nothing more is sent after that.
    await waitFor(async () => (await targetHandle(stack, target.id).describe()).status.name === 'COMPLETED', { what: 'the workflow to end' });
    assert.ok(pages() - atDelete <= 1, `${pages() - atDelete} POSTs after the delete`);
    assert.ok(pages() < 100, 'deleted long before the end');
    // Everything sent until then was in order and one at a time.
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(rcv.maxConcurrent, 1);
  });

  test('resume is not lost when the database write of the resume lags behind the signal', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600 });
    await waitUntilWaiting(target.id);
    await setPaused(stack.deps, target.id, true);
    await insertCustomers(stack.pool, integration.table, keysOf('cus_lag', 4));
    // Another writer holds the target's row (as a delivery recording its progress does) while
    // the resume is sent.
    const blocker = await stack.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM sync_targets WHERE id = $1 FOR UPDATE', [target.id]);
      const blockerPid = (await blocker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const resumed = setPaused(stack.deps, target.id, false);
      // The resume's write waits for the lock.
      await waitFor(
        async () =>
          (await stack.pool.query('SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [blockerPid])).rowCount! > 0,
        { what: 'the resume to wait for the row lock' },
      );
      await blocker.query('COMMIT');
      await resumed;
    } finally {
      blocker.release();
    }
    await waitFor(async () => rowsAt(rcv, 'cus_lag').length === 4, { what: 'the rows that collected while paused', timeoutMs: 15_000 });
  });

  test('on insert: a row changed through a signed webhook reaches the receiver within a second or two, not after the 3600 s period', async (t) => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, mode: 'on_insert' });
    await waitUntilWaiting(target.id);
    const created = Math.floor(Date.now() / 1000);
    const send = async (i: number) => {
      const event = customerEvent({
        type: i === 0 ? 'customer.created' : 'customer.updated',
        id: 'cus_OnInsert1',
        created: created + i,
        email: `v${i}@example.com`,
        balance: i,
      });
      const sent = Date.now();
      const res = await postEvent(stack.apiUrl, integration.id, event, WEBHOOK_SECRET);
      assert.equal(res.status, 200);
      const page = await waitFor(
        async () => acceptedPages(rcv).find((p) => p.body.rows.some((r: any) => r.stripe_id === 'cus_OnInsert1' && r.email === `v${i}@example.com`)),
        { what: `version ${i} at the receiver`, timeoutMs: 15_000, intervalMs: 20 },
      );
      return page.at - sent;
    };
    // The first event also starts the integration's ingest workflow.
    const first = await send(0);
    assert.ok(first < 10_000, `the first change arrived after ${first} ms`);
    const latencies: number[] = [];
    for (let i = 1; i <= 5; i++) {
      latencies.push(await send(i));
      await waitUntilWaiting(target.id);
    }
    t.diagnostic(`webhook → receiver: first ${first} ms, then ${latencies.join(', ')} ms`);
    const sorted = [...latencies].sort((a, b) => a - b);
    assert.ok(sorted[2]! < 2_000 && sorted[4]! < 3_000, `webhook → receiver: ${latencies.join(', ')} ms`);
    assert.deepEqual(acceptedPages(rcv).flatMap((p) => p.body.rows.map((r: any) => r.balance)), [0, 1, 2, 3, 4, 5]);
  });

  test('on insert: a row held back by an open transaction elsewhere arrives soon after that transaction ends, not after the period', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, mode: 'on_insert' });
    await waitUntilWaiting(target.id);
    // An unrelated transaction that has its transaction id (any database of the cluster counts).
    const blocker = await stack.pool.connect();
    let ended = 0;
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT pg_current_xact_id()');
      const event = customerEvent({ type: 'customer.created', id: 'cus_HeldBack', created: Math.floor(Date.now() / 1000) });
      assert.equal((await postEvent(stack.apiUrl, integration.id, event, WEBHOOK_SECRET)).status, 200);
      await waitFor(async () => (await stack.pool.query(`SELECT 1 FROM ${integration.table} WHERE stripe_id = 'cus_HeldBack'`)).rowCount === 1, {
        what: 'the row in the table',
      });
      // The on-insert sync ran and found the row held back, as info shows.
      const info = await waitFor(async () => {
        const i = await targetInfo(stack.deps, target.id);
        return i.rows_held_back === 1 && i.state === 'waiting' && (i.syncs ?? 0) >= 2 ? i : undefined;
      }, { what: 'the sync to find the row held back' });
      assert.equal(info.rows_waiting, 1);
      // It looks again while the transaction stays open, and still sends nothing.
      await waitFor(async () => ((await targetInfo(stack.deps, target.id)).syncs ?? 0) > (info.syncs ?? 0), { what: 'another look for the held-back row' });
      assert.equal(rowsAt(rcv, 'cus_HeldBack').length, 0, 'not delivered while an older transaction is open');
      await blocker.query('COMMIT');
      ended = Date.now();
    } finally {
      if (!ended) await blocker.query('ROLLBACK').catch(() => {});
      blocker.release();
    }
    const page = await explained(
      stack,
      target.id,
      waitFor(async () => acceptedPages(rcv).find((p) => p.body.rows.some((r: any) => r.stripe_id === 'cus_HeldBack')), {
        what: 'the held-back row after the transaction ended',
        timeoutMs: 20_000,
      }),
    );
    assert.ok(page.at - ended < 10_000, `delivered ${page.at - ended} ms after the transaction ended`);
    // Nothing held back any more: back to waiting for the period (no more polling).
    // The workflow's newest timer is the period's (an hour), not a look again in a second or so.
    await waitFor(async () => {
      if ((await targetStatus(stack, target.id)).state !== 'waiting') return false;
      const timers = ((await targetHandle(stack, target.id).fetchHistory()).events ?? []).filter((e) => e.timerStartedEventAttributes);
      return Number(timers.at(-1)?.timerStartedEventAttributes?.startToFireTimeout?.seconds ?? 0) > 3000;
    }, { what: 'the wait for the period' });
    assert.ok(Date.parse((await targetStatus(stack, target.id)).nextSyncAt!) - Date.now() > 3000_000);
  });

  test('update and pause/resume take effect in the running workflow, without a restart', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 50 });
    const handle = targetHandle(stack, target.id);
    const { runId } = await handle.describe();
    await waitUntilWaiting(target.id);

    // Page size 50 → 4: the next sync sends pages of 4.
    await updateTarget(stack.deps, target.id, { pageSize: 4 });
    await insertCustomers(stack.pool, integration.table, keysOf('cus_upd', 10));
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => rowsAt(rcv, 'cus_upd').length === 10, { what: 'the 10 rows' });
    assert.deepEqual(acceptedPages(rcv).map((p) => p.body.rows.length), [4, 4, 2]);

    // Period 3600 → 2: syncs come by themselves, without a trigger.
    await waitUntilWaiting(target.id);
    await updateTarget(stack.deps, target.id, { periodSeconds: 2 });
    await waitFor(async () => (await targetStatus(stack, target.id)).settings.periodSeconds === 2, { what: 'the new period in the workflow', timeoutMs: 10_000 });
    for (let round = 0; round < 2; round++) {
      await insertCustomers(stack.pool, integration.table, [`cus_period${round}`]);
      await waitFor(async () => rowsAt(rcv, `cus_period${round}`).length === 1, { what: 'a periodic sync after the period update', timeoutMs: 8_000 });
    }

    // Interval → on insert (and back to a long period): a webhook is delivered at once.
    await updateTarget(stack.deps, target.id, { mode: 'on_insert', periodSeconds: 3600 });
    await waitUntilWaiting(target.id);
    const res = await postEvent(stack.apiUrl, integration.id, customerEvent({ type: 'customer.created', id: 'cus_ModeSwitch', created: Math.floor(Date.now() / 1000) }), WEBHOOK_SECRET);
    assert.equal(res.status, 200);
    await explained(stack, target.id, waitFor(async () => rowsAt(rcv, 'cus_ModeSwitch').length === 1, { what: 'the row after switching to on insert', timeoutMs: 5_000 }));

    // Pause and resume.
    await setPaused(stack.deps, target.id, true);
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'paused', { what: 'paused' });
    await insertCustomers(stack.pool, integration.table, ['cus_paused']);
    const from = await historyLength(handle);
    await triggerTarget(stack.deps, target.id);
    await signalTaken(handle, triggerSignal.name, from);
    assert.equal(rowsAt(rcv, 'cus_paused').length, 0);
    await setPaused(stack.deps, target.id, false);
    await waitFor(async () => rowsAt(rcv, 'cus_paused').length === 1, { what: 'the row after resume', timeoutMs: 8_000 });

    const after = await handle.describe();
    assert.equal(after.runId, runId, 'the same run, never restarted');
    assert.equal(after.status.name, 'RUNNING');
    const status = await targetStatus(stack, target.id);
    assert.deepEqual(status.settings, { periodSeconds: 3600, pageSize: 4, timeoutSeconds: 60, mode: 'on_insert', paused: false });
    assert.equal(rcv.maxConcurrent, 1);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  explained,
  newIntegration,
  newTarget,
  runsWithEvents,
  syncPages,
  targetHandle,
  targetStatus,
  waitForConvergence,
  WEBHOOK_SECRET,
} from './support/httpsync';
import { type Receiver, receiverSet } from './support/receiver';
import { workflowRuns } from './support/runs';
import { customerEvent, postEvent } from './support/stripe';

const HISTORY_LIMIT = 150;

/**
 * The wake-ups of on-insert targets (src/activities/target-wakeups.ts): coalesced per target and
 * per slice of time, none while a drain holds the target or a retry waits. Real ingest, real
 * Temporal, real HTTPS receivers; runs continue as new past 150 history events.
 */
describe('HTTP Sync wake-ups of on-insert targets', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;

  before(async () => {
    stack = await startStack({ env: { HOOKSYNC_HISTORY_LIMIT: String(HISTORY_LIMIT) } });
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  /** Signed customer events at `perSecond` for `ms` (open loop: one every 1000/perSecond ms, not waiting for answers). */
  async function stream(integrationId: string, prefix: string, perSecond: number, ms: number, keys = Infinity): Promise<number> {
    const started = Date.now();
    const created = Math.floor(started / 1000);
    const sends: Promise<void>[] = [];
    for (let i = 0; Date.now() - started < ms; i++) {
      const event = customerEvent({ type: 'customer.updated', id: `${prefix}${i % keys}`, created: created + i, balance: i });
      sends.push(
        postEvent(stack.apiUrl, integrationId, event, WEBHOOK_SECRET).then((r) => {
          assert.equal(r.status, 200, JSON.stringify(r.body));
        }),
      );
      const next = started + ((i + 1) * 1000) / perSecond;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
    await Promise.all(sends);
    return sends.length;
  }

  /** Per run of the target's workflow: its `rowsChanged` signals, delivery activities and history events. */
  async function workOf(targetId: string) {
    const handle = targetHandle(stack, targetId);
    const runs = await workflowRuns(stack.temporal.client, handle.workflowId);
    return runs.map((r) => {
      const events = r.history.events ?? [];
      return {
        signals: events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'rowsChanged').length,
        drains: events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverPages').length,
      };
    });
  }

  test('a Retry-After holds while new rows keep coming: at most 5 POSTs in 30 s at 20 events/s; then everything, in order', { timeout: 180_000 }, async (t) => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 50, mode: 'on_insert' });
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting' || undefined, { what: 'the first (empty-table) sync' });
    const before = syncPages(rcv).length;
    rcv.respondWith(() => ({ status: 429, headers: { 'retry-after': '10' } }));
    const started = Date.now();
    await stream(integration.id, 'cus_ra', 20, 30_000, 200);
    const during = syncPages(rcv).filter((p) => p.at - started <= 30_000).length - before;
    t.diagnostic(`POSTs in the 30 s of 429 Retry-After: 10: ${during}`);
    assert.ok(during >= 1 && during <= 5, `${during} POSTs in 30 s`);
    rcv.respondWith(() => ({ status: 200 }));
    await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000 }));
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(rcv.maxConcurrent, 1);
  });

  test('one run stays within the history limit through a 40 s POST while 80 events/s change the rows; one POST at a time; all delivered after', { timeout: 240_000 }, async (t) => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 200, timeoutSeconds: 60, mode: 'on_insert' });
    let slow = true;
    rcv.respondWith((req) => {
      // The first page with rows takes 40 s to answer; the rest at once.
      if (slow && req.body?.rows?.length) {
        slow = false;
        return { status: 200, delayMs: 40_000 };
      }
      return { status: 200 };
    });
    await stream(integration.id, 'cus_long', 80, 45_000, 500);
    await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 120_000 }));
    assert.equal(slow, false, 'the slow answer happened');
    assert.equal(rcv.maxConcurrent, 1, 'one POST at a time');
    assertVersionsInOrder(rcv, { strict: true });
    const runs = await runsWithEvents(stack.temporal.client, targetHandle(stack, target.id).workflowId);
    t.diagnostic(`history events per run: ${runs.map((r) => r.events).join(', ')}`);
    assert.ok(Math.max(...runs.map((r) => r.events)) <= HISTORY_LIMIT + 50, `events per run: ${runs.map((r) => r.events).join(', ')}`);
  });

  test('ten on-insert targets of one integration: every row reaches every target in order, with about one wake-up per drain', { timeout: 180_000 }, async (t) => {
    const integration = await newIntegration(stack);
    const targets = [];
    for (let i = 0; i < 10; i++) {
      const rcv = await receiver();
      targets.push({ rcv, target: await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 200, mode: 'on_insert' }) });
    }
    const sent = await stream(integration.id, 'cus_fan', 50, 8_000);
    for (const { rcv, target } of targets) {
      await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000 }));
      assertVersionsInOrder(rcv, { strict: true });
      assert.equal(rcv.maxConcurrent, 1);
    }
    let signals = 0;
    let drains = 0;
    for (const { target } of targets) {
      const work = await workOf(target.id);
      const s = work.reduce((n, r) => n + r.signals, 0);
      const d = work.reduce((n, r) => n + r.drains, 0);
      // A wake-up is sent only to a target that is not draining, has not read past the rows and
      // whose last wake-up has led to a drain (or is a second old: a short drain may find its rows
      // held back and show neither its lock nor a new cursor): about one per drain, none piling
      // up behind one.
      assert.ok(s <= 1.5 * d + 2, `${target.id}: ${s} rowsChanged signals for ${d} drains`);
      signals += s;
      drains += d;
    }
    t.diagnostic(`${sent} events, 10 targets: ${signals} rowsChanged signals, ${drains} drains, ${acceptedPages(targets[0]!.rcv).length} pages at the first target`);
    // Fewer drains than events: rows that arrive together go together. More: each target's drain
    // reads on while rows keep coming (lingering-drains.ts), so a target needs about one activity
    // per 10 s budget, not one per slice (the drain it runs when created is the first).
    assert.ok(drains / targets.length <= 4, `${drains / targets.length} drains per target for ${sent} events over 8 s`);
  });
});

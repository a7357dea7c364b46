import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  targetHandle,
  waitForConvergence,
  WEBHOOK_SECRET,
} from './support/httpsync';
import { receiverSet } from './support/receiver';
import { workflowRuns } from './support/runs';
import { customerEvent, postEvent } from './support/stripe';
import { setPaused } from '../src/services/target-signals';
import { listenForDrainNotices, noticeDrains } from '../src/db/drain-notices';

/**
 * A drain of an on-insert target reads the rows this worker's applies commit for it while it runs,
 * up to a second after its last page (src/activities/lingering-drains.ts): few activities while
 * rows keep coming, none held by an idle target, and the per-target rules (the lock, the
 * announcement before each POST, pause) hold throughout. Real ingest, Temporal and receivers.
 */
describe('HTTP Sync drains that read on while rows keep coming', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  async function deliveryActivities(targetId: string): Promise<number> {
    const runs = await workflowRuns(stack.temporal.client, targetHandle(stack, targetId).workflowId);
    return runs.reduce((n, r) => n + (r.history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverPages').length, 0);
  }

  async function pendingActivities(targetId: string): Promise<number> {
    const described = await targetHandle(stack, targetId).describe();
    return described.raw.pendingActivities?.length ?? 0;
  }

  test('events every 150 ms for 6 s reach the target in order through one or two activities; once they stop, the target holds no activity within about a second', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, mode: 'on_insert' });
    // The drain a new target runs at once: it finds nothing and returns within about a second.
    await waitFor(async () => (await deliveryActivities(target.id)) === 1 && (await pendingActivities(target.id)) === 0, { what: 'the first drain over', timeoutMs: 15_000 });
    const created = Math.floor(Date.now() / 1000);
    const started = Date.now();
    let i = 0;
    for (; Date.now() - started < 6_000; i++) {
      const event = customerEvent({ type: 'customer.updated', id: `cus_Linger${i % 7}`, created: created + i, balance: i });
      assert.equal((await postEvent(stack.apiUrl, integration.id, event, WEBHOOK_SECRET)).status, 200);
      await new Promise((r) => setTimeout(r, 150));
    }
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 30_000 });
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(rcv.maxConcurrent, 1);
    const lastAt = Math.max(...acceptedPages(rcv).map((p) => p.at));
    // Idle: the drain returns about a second after its last page (it may still be reading the last rows).
    await waitFor(async () => (await pendingActivities(target.id)) === 0, { what: 'no activity pending', timeoutMs: 10_000, intervalMs: 50 });
    const idleAfter = Date.now() - lastAt;
    const activities = (await deliveryActivities(target.id)) - 1;
    assert.ok(idleAfter < 3_000, `the drain held on ${idleAfter} ms after the last page`);
    // One activity per 10 s budget while rows keep coming (the first wake-up starts it); before
    // drains read on, each slice of rows was a signal, two workflow tasks and an activity.
    assert.ok(activities >= 1 && activities <= 3, `${activities} delivery activities for ${i} events over 6 s (${acceptedPages(rcv).length} pages)`);
  });

  test('a drain that spends its 10 s budget hands over to the next at once: no lock-delay for a page it read but did not send', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    // 400 ms per POST while a row is committed every 200 ms: each read after a POST finds a short
    // page (read and announced in one statement), so the budget ends the drain on such a page.
    rcv.respondWith(() => ({ status: 200, delayMs: 400 }));
    await insertCustomers(stack.pool, integration.table, keysOf('cus_Budget', 3));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 10, timeoutSeconds: 30 });
    const started = Date.now();
    for (let i = 3; Date.now() - started < 13_000; i++) {
      await insertCustomers(stack.pool, integration.table, keysOf('cus_Budget', 1, i));
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000 });
    const took = Date.now() - started;
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(rcv.maxConcurrent, 1);
    assert.ok((await deliveryActivities(target.id)) >= 2, 'the budget ended the first activity');
    // A page announced and left unsent would hold the next activity back 35 s (timeout + 5 s).
    assert.ok(took < 25_000, `13 s of rows took ${took} ms to arrive`);
    await waitFor(
      async () => (await stack.pool.query('SELECT post_in_flight_until IS NULL AS clear FROM sync_targets WHERE id = $1', [target.id])).rows[0].clear,
      { what: 'no POST announced once the drain is over', timeoutMs: 15_000 },
    );
  });

  test('a pause while a drain waits for rows: no POST after it, and the rows arrive after resume', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, mode: 'on_insert' });
    const created = Math.floor(Date.now() / 1000);
    const send = async (i: number) => {
      const event = customerEvent({ type: 'customer.updated', id: 'cus_LingerPause', created: created + i, balance: i });
      assert.equal((await postEvent(stack.apiUrl, integration.id, event, WEBHOOK_SECRET)).status, 200);
    };
    await send(0);
    await waitFor(async () => acceptedPages(rcv).length === 1, { what: 'the first page' });
    // The drain now waits for rows (up to a second); the pause lands in the database at once.
    await setPaused(stack.deps, target.id, true);
    const pausedAt = Date.now();
    await send(1);
    await waitFor(async () => (await pendingActivities(target.id)) === 0, { what: 'the drain over', timeoutMs: 10_000, intervalMs: 50 });
    assert.equal(acceptedPages(rcv).filter((p) => p.at > pausedAt).length, 0, 'no POST after the pause');
    await setPaused(stack.deps, target.id, false);
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 30_000 });
    assertVersionsInOrder(rcv, { strict: true });
  });

  test('drains in other workers hear of rows through LISTEN/NOTIFY; the listener connects again after its session is killed', async () => {
    const heard: string[] = [];
    const warnings: string[] = [];
    const notices = listenForDrainNotices(stack.config.DATABASE_URL, (id) => heard.push(id), { warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) });
    const listening = async () =>
      (await stack.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN hooksync_drain_rows' AND datname = current_database()")).rows.map((r) => r.pid);
    try {
      await waitFor(async () => (await listening()).length > 0 || undefined, { what: 'the listener' });
      await noticeDrains(stack.pool, ['hst_a', 'hst_b']);
      await waitFor(async () => heard.length === 2 || undefined, { what: 'both notices' });
      assert.deepEqual(heard, ['hst_a', 'hst_b']);
      // Killed (a restart, a cut connection): it connects again and hears what comes after.
      const before = await listening();
      await stack.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
      // Told again until heard: other processes' listeners in the same database may come back first.
      await waitFor(
        async () => {
          await noticeDrains(stack.pool, ['hst_c']);
          return heard.includes('hst_c') || undefined;
        },
        { what: 'a notice after the reconnection', timeoutMs: 15_000, intervalMs: 200 },
      );
      assert.ok(warnings.some((w) => /connecting again/.test(w)), warnings.join('; '));
    } finally {
      await notices.close();
    }
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { repairPendingChanges } from '../src/activities/repairs/pending-changes';
import { getTarget } from '../src/db/targets';
import { ServiceError } from '../src/services/errors';
import { targetInfo } from '../src/services/target-info';
import { resetTarget } from '../src/services/target-restarts';
import { setPaused, triggerTarget } from '../src/services/target-signals';
import { updateTarget } from '../src/services/targets';
import { startStack, waitFor, type Stack } from './support/harness';
import { acceptedPages, insertCustomers, keysOf, newIntegration, newTarget, syncPages, targetHandle, targetStatus, waitForConvergence } from './support/httpsync';
import { currentDetails } from './support/ingest';
import { type Receiver, receiverSet } from './support/receiver';

// Issue 18: a lock whose session dies mid-POST, a database restored from before a reset, and
// settings whose update had an unknown outcome.
describe('HTTP Sync crash safety', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  /** The backend whose session holds the target's delivery lock (db/targets.ts), if any. */
  const lockHolder = async (targetId: string): Promise<number | undefined> => {
    const { rows } = await stack.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted
          AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('hooksync-target:' || $1, 0)`,
      [targetId],
    );
    return rows[0]?.pid;
  };

  test('the lock\'s session cut mid-POST: the next POST waits for the first to end, and the old delivery sends nothing more', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cut', 8));
    let held = 0;
    // The first page is held for 3 s; everything else is answered at once.
    rcv.respondWith((req) => (req.headers['hooksync-verification'] === undefined && held++ === 0 ? { status: 200, delayMs: 3_000 } : { status: 200 }));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 2, timeoutSeconds: 10 });
    await waitFor(async () => syncPages(rcv).length === 1 || undefined, { what: 'the first page in flight', intervalMs: 10 });
    const pid = await waitFor(() => lockHolder(target.id), { what: 'the delivery lock', intervalMs: 10 });
    await stack.pool.query('SELECT pg_terminate_backend($1)', [pid]);
    const cutAt = Date.now();
    // The lock is free at once: an update's verification POST takes it, and must wait for the POST.
    await updateTarget(stack.deps, target.id, { url: `${rcv.url}?v=2` });
    await triggerTarget(stack.deps, target.id);
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000 });

    const first = syncPages(rcv)[0]!;
    assert.ok(first.accepted && first.endedAt! > cutAt, 'the first POST was still in flight when its lock session was cut');
    assert.deepEqual(rcv.overlaps(), [], 'never two POSTs at once');
    const verification = rcv.requests.filter((r) => r.headers['hooksync-verification']).at(-1)!;
    assert.ok(verification.at >= first.endedAt!, `the verification POST started ${first.endedAt! - verification.at} ms before the first POST ended`);
    // The old delivery stopped before its next POST: the next page came after the verification,
    // from a new delivery (to the new URL), and the old one failed on its lost session.
    const second = syncPages(rcv)[1]!;
    assert.ok(second.at >= verification.endedAt!, 'the next page came after the verification');
    assert.equal(second.url, '/sync?v=2');
    assert.match((await targetStatus(stack, target.id)).progress.lastError ?? '', /terminat|connection|session/i);
    assert.equal((await getTarget(stack.pool, target.id))!.post_in_flight_until, null, 'nothing left in flight');
  });

  test('a database restored from before a reset stops delivery, says so and names the fix; reset --from-start fixes it', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_gen', 5));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 2 });
    await waitForConvergence(stack, rcv, integration.table);
    await resetTarget(stack.deps, target.id);
    await waitFor(async () => acceptedPages(rcv).flatMap((p) => p.body.rows).length === 10 || undefined, { what: 'every row again after the reset' });
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting' || undefined, { what: 'waiting' });
    assert.equal((await targetStatus(stack, target.id)).generation, 1);

    // The restore: the database's generation goes back below the workflow's.
    await stack.pool.query('UPDATE sync_targets SET cursor_generation = 0 WHERE id = $1', [target.id]);
    const before = syncPages(rcv).length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_gen', 3, 5));
    await triggerTarget(stack.deps, target.id);
    const fix = `hooksync httpsync reset ${target.id} --from-start`;
    await waitFor(async () => ((await targetStatus(stack, target.id)).retry?.error ?? '').includes(fix) || undefined, { what: 'the stopped delivery' });
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => ((await targetStatus(stack, target.id)).retry?.attempts ?? 0) >= 2 || undefined, { what: 'a second attempt' });
    assert.equal(syncPages(rcv).length, before, 'nothing was sent');
    const info = await targetInfo(stack.deps, target.id);
    assert.ok(info.warnings.some((w) => w.includes('cursor generation (0) is below the workflow\'s (1)') && w.includes(fix)), JSON.stringify(info.warnings));
    assert.ok((await currentDetails(targetHandle(stack, target.id))).includes(fix));

    const reset = await resetTarget(stack.deps, target.id);
    assert.equal(reset.generation, 2, 'above the workflow\'s generation');
    await waitFor(async () => acceptedPages(rcv).flatMap((p) => p.body.rows).length === 18 || undefined, { what: 'every row from the start' });
    await waitFor(async () => (await targetStatus(stack, target.id)).retry === undefined || undefined, { what: 'the retry over' });
    assert.ok(!(await targetInfo(stack.deps, target.id)).warnings.some((w) => w.includes('cursor generation')));
  });

  test('update and pause with an unknown outcome: the database keeps the new value and self-repair brings it to the workflow', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 4 });
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting' || undefined, { what: 'waiting' });
    // The repair counts every target's pending change: those of the tests before this one acknowledged first.
    await waitFor(async () => (await stack.pool.query('SELECT count(*)::int AS n FROM sync_targets WHERE pending_update_id IS NOT NULL')).rows[0].n === 0, {
      what: 'no change of settings pending',
    });

    // No worker: the updates reach Temporal but nobody answers before their deadline.
    await stack.stopWorker();
    try {
      for (const change of [() => updateTarget(stack.deps, target.id, { pageSize: 7, periodSeconds: 120 }), () => setPaused(stack.deps, target.id, true)]) {
        await assert.rejects(change(), (e: Error) => e instanceof ServiceError && e.code === 'unavailable' && /it is saved/.test(e.message));
      }
    } finally {
      await stack.startWorker();
    }
    const row = (await getTarget(stack.pool, target.id))!;
    assert.deepEqual([row.page_size, row.period_seconds, row.paused], [7, 120, true], 'the database keeps the new values');
    assert.ok(row.pending_update_id);

    // A change younger than the repair's grace is left to the call that made it (it may still be sending it).
    assert.match(await repairPendingChanges({ pool: stack.pool, client: stack.temporal.client }, 600_000), /1 just made, left to their callers/);
    assert.ok((await getTarget(stack.pool, target.id))!.pending_update_id);
    const summary = await repairPendingChanges({ pool: stack.pool, client: stack.temporal.client }, 0);
    assert.match(summary, new RegExp(`sent again: .*${target.id}`));
    const s = await targetStatus(stack, target.id);
    assert.deepEqual([s.settings.pageSize, s.settings.periodSeconds, s.settings.paused], [7, 120, true], 'the workflow has the database\'s settings');
    assert.equal((await getTarget(stack.pool, target.id))!.pending_update_id, null, 'acknowledged');

    // And with a worker, a change is acknowledged at once: nothing is left for the repair.
    await setPaused(stack.deps, target.id, false);
    assert.equal((await getTarget(stack.pool, target.id))!.pending_update_id, null);
    assert.equal((await targetStatus(stack, target.id)).settings.paused, false);
  });
});

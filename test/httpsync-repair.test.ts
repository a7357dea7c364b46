import assert from 'node:assert/strict';
import { maskUrl } from '../src/http/target-url';
import { after, before, describe, test } from 'node:test';
import { reconcilerStatusQuery } from '../src/contract/messages';
import { httpSyncWorkflowId, reconcilerWorkflowId } from '../src/contract/names';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { freshDatabase, startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  runCli,
  spawnWorker,
  stackEnv,
  targetHandle,
  targetStatus,
  updateCustomers,
  waitForConvergence,
  type WorkerChild,
} from './support/httpsync';
import { currentDetails } from './support/ingest';
import { type Receiver, receiverSet } from './support/receiver';

// Self-repair (issue 12, point 3) and a database moved to another cluster (point 9). On a
// database of its own: the reconciler repairs every target it finds.
describe('self-repair', () => {
  let stack: Stack;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const receivers = receiverSet();
  const receiver = receivers.start;
  const workers: WorkerChild[] = [];

  before(async () => {
    db = await freshDatabase();
    stack = await startStack({ env: { DATABASE_URL: db.url }, reconciler: true });
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await Promise.allSettled([stack?.close(), receivers.close()]);
    await db?.drop();
  });

  const describeStatus = async (targetId: string) => (await targetHandle(stack, targetId).describe()).status.name;

  test('a workflow terminated by hand, one never started, and a deleted target\'s that still runs: put right within about a minute, nothing skipped, nothing sent twice', { timeout: 240_000 }, async (t) => {
    const integration = await newIntegration(stack);
    const [a, b, c] = [await receiver(), await receiver(), await receiver()];
    await insertCustomers(stack.pool, integration.table, keysOf('cus_rep', 20));
    const target = await newTarget(stack, integration.id, a, { periodSeconds: 3600, pageSize: 5 });
    await waitForConvergence(stack, a, integration.table);
    const doomed = await newTarget(stack, integration.id, c, { periodSeconds: 3600 });
    await waitForConvergence(stack, c, integration.table);

    // An operator terminates the workflow in the UI; rows keep changing.
    await targetHandle(stack, target.id).terminate('terminated by hand in the Temporal UI');
    const terminatedAt = Date.now();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_rep', 12, 20));
    await updateCustomers(stack.pool, integration.table, keysOf('cus_rep', 3));
    // A target whose workflow was never started (the process died between the INSERT and the start).
    const orphan = `hst_orphan${Date.now()}`;
    await stack.pool.query(
      `INSERT INTO sync_targets (id, integration_id, url, url_masked, period_seconds, page_size, timeout_seconds, mode, created_at)
       VALUES ($1, $2, $3, $4, 3600, 7, 30, 'interval', now() - interval '2 minutes')`,
      [orphan, integration.id, b.url, maskUrl(b.url)],
    );
    // A target deleted in the database whose delete signal never reached its workflow.
    await stack.pool.query('UPDATE sync_targets SET deleted_at = now() WHERE id = $1', [doomed.id]);

    await explained(stack, target.id, waitForConvergence(stack, a, integration.table, { timeoutMs: 100_000, what: 'the terminated target delivering again' }));
    const resumedAfter = acceptedPages(a).find((p) => p.at > terminatedAt)!.at - terminatedAt;
    t.diagnostic(`delivering again ${Math.round(resumedAfter / 1000)} s after the termination`);
    assert.ok(resumedAfter < 80_000, `${resumedAfter} ms`);
    // Started again from PostgreSQL's cursor: nothing sent twice (every page once), nothing skipped.
    const pages = acceptedPages(a);
    assert.equal(new Set(pages.map((p) => p.pageId)).size, pages.length);
    assertVersionsInOrder(a, { strict: true });
    assert.equal(a.maxConcurrent, 1);
    assert.equal(await describeStatus(target.id), 'RUNNING');
    const info = await targetInfo(stack.deps, target.id);
    assert.equal(info.restarts, 1);
    assert.match(info.restart_reason ?? '', /self-repair: its workflow was terminated/);
    assert.equal(info.rows_delivered, 35, 'the counters came from PostgreSQL too');
    assert.match(await currentDetails(targetHandle(stack, target.id)), /restarted from PostgreSQL's cursor at /);

    await waitForConvergence(stack, b, integration.table, { timeoutMs: 30_000, what: 'the target that was never started' });
    assert.deepEqual(acceptedPages(b).map((p) => p.body.rows.length), [7, 7, 7, 7, 4]);
    await waitFor(async () => (await describeStatus(doomed.id)) === 'COMPLETED' || undefined, { what: 'the deleted target\'s workflow to stop', timeoutMs: 30_000 });

    const reconciler = stack.temporal.client.workflow.getHandle(reconcilerWorkflowId(stack.config.HOOKSYNC_TASK_QUEUE));
    const s = await reconciler.query(reconcilerStatusQuery);
    assert.ok(s.rounds >= 2);
    assert.match(await currentDetails(reconciler), /target-workflows:\*\* `/);
  });

  test('hooksync httpsync restart <id> does it at once', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_rst', 6));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 4 });
    await waitForConvergence(stack, rcv, integration.table);
    await targetHandle(stack, target.id).terminate('by hand');
    await insertCustomers(stack.pool, integration.table, keysOf('cus_rst', 5, 6));

    const before = Date.now();
    const r = await runCli(['httpsync', 'restart', target.id, '--json'], { env: stackEnv(stack) });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.was, 'TERMINATED');
    assert.equal(out.workflow_id, httpSyncWorkflowId(target.id));
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 15_000, what: 'the rows after the restart' });
    assert.ok(Date.now() - before < 15_000);
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(new Set(acceptedPages(rcv).map((p) => p.pageId)).size, acceptedPages(rcv).length);

    // A running one is replaced, from the same cursor.
    const sent = acceptedPages(rcv).length;
    const text = await runCli(['httpsync', 'restart', target.id], { env: stackEnv(stack) });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Started the workflow of hst_\w+ again from cursor \d+\/\d+ \(it was running: replaced\)/);
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting' || undefined, { what: 'waiting after the restart' });
    assert.equal(acceptedPages(rcv).length, sent, 'nothing sent again');
  });

  test('a database restored into another cluster (its transaction counter below a cursor) is reported at worker start, in info and in the details', { timeout: 240_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_moved', 4));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600 });
    await waitForConvergence(stack, rcv, integration.table);
    // As after a restore elsewhere: the cursor (in the row and in the workflow) is far past the
    // ids this cluster hands out.
    await stack.pool.query(
      `UPDATE sync_targets SET cursor_txid = (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8 WHERE id = $1`,
      [target.id],
    );
    const restart = await runCli(['httpsync', 'restart', target.id], { env: stackEnv(stack) });
    assert.equal(restart.code, 0, restart.stderr);
    await insertCustomers(stack.pool, integration.table, ['cus_moved_new']);
    await triggerTarget(stack.deps, target.id);

    const info = await waitFor(async () => {
      const i = await targetInfo(stack.deps, target.id);
      return i.warnings.length > 0 && i.state === 'waiting' ? i : undefined;
    }, { what: 'the warning in info' });
    assert.match(info.warnings[0]!, new RegExp(`the cursor \\d+/\\d+ is ahead of this database's transaction counter .*restored or moved to another PostgreSQL cluster.*hooksync httpsync reset ${target.id} --from-start`));
    const text = await runCli(['httpsync', 'info', target.id], { env: stackEnv(stack) });
    assert.match(text.stdout, /│ warning\s+│ the cursor \d+\/\d+ is ahead of this database/);
    await waitFor(async () => /Warning:\*\* `the cursor \d+\/\d+ is ahead of this database/.test(await currentDetails(targetHandle(stack, target.id))) || undefined, {
      what: 'the warning in the current details',
    });

    // A worker starting on this database says so in its log.
    const w = spawnWorker(stackEnv(stack, { LOG_LEVEL: 'info' }));
    workers.push(w);
    await waitFor(async () => (w.stderr().includes(target.id) && /ahead of this database/.test(w.stderr())) || undefined, {
      what: 'the worker to report the cursor',
      timeoutMs: 120_000,
      intervalMs: 250,
    });
    const line = w.stderr().split('\n').find((l) => l.includes('ahead of this database') && l.includes(target.id))!;
    assert.equal(JSON.parse(line).level, 50, 'logged as an error');
    w.child.kill('SIGINT');
    await w.exited;

    // The fix it names: everything again, from the start.
    const reset = await runCli(['httpsync', 'reset', target.id, '--from-start'], { env: stackEnv(stack) });
    assert.equal(reset.code, 0, reset.stderr);
    await waitFor(async () => rcv.rows().some((r) => r.stripe_id === 'cus_moved_new') || undefined, { what: 'the new row after the reset', timeoutMs: 30_000 });
    assert.deepEqual((await targetInfo(stack.deps, target.id)).warnings, []);
  });
});

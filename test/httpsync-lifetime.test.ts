import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { getTarget } from '../src/db/targets';
import { KEEPALIVE } from '../src/db/pool';
import { ServiceError } from '../src/services/errors';
import { resetTarget } from '../src/services/target-restarts';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { updateTarget } from '../src/services/targets';
import { connectTemporal } from '../src/temporal/client';
import { configureSignal, configureUpdate } from '../src/contract/messages';
import { startStack, waitFor, type Stack } from './support/harness';
import { recordIfAsked } from './support/histories';
import {
  acceptedPages,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  runCli,
  runsWithEvents,
  sleep,
  stackEnv,
  syncPages,
  targetHandle,
  targetStatus,
  updateCustomers,
  waitForConvergence,
} from './support/httpsync';
import { currentDetails } from './support/ingest';
import { type Receiver, receiverSet } from './support/receiver';

const HISTORY_LIMIT = 150;

// Issue 12: what has to hold for a target that lives for months. On a stack whose workflows
// continue as new past 150 history events.
describe('HTTP Sync over a long life', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;
  const rowIds = (r: Receiver) => acceptedPages(r).flatMap((p) => p.body.rows.map((row: any) => row.stripe_id));
  const tableOrder = async (table: string) =>
    (await stack.pool.query<{ stripe_id: string }>(`SELECT stripe_id FROM ${table} ORDER BY _txid, _seq`)).rows.map((r) => r.stripe_id);

  before(async () => {
    stack = await startStack({ env: { HOOKSYNC_HISTORY_LIMIT: String(HISTORY_LIMIT) } });
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  const runsOf = (workflowId: string) => runsWithEvents(stack.temporal.client, workflowId);

  test('a receiver answering 429 with Retry-After: 1 for 90 s: every run stays bounded, the workflow runs throughout, and then every row arrives in order, one POST at a time', { timeout: 300_000 }, async (t) => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_long', 40));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 5 });
    await waitForConvergence(stack, rcv, integration.table);

    // The outage: 90 s of 429s while rows keep changing.
    let outage = true;
    rcv.respondWith((req) => (req.headers['hooksync-verification'] || !outage ? { status: 200 } : { status: 429, headers: { 'retry-after': '1' }, body: { error: 'slow down' } }));
    const started = Date.now();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_long', 30, 40));
    await triggerTarget(stack.deps, target.id);
    const handle = targetHandle(stack, target.id);
    let notRunning = 0;
    let checks = 0;
    let sawInfo = false;
    let sawMetrics = false;
    let sawDetails = false;
    while (Date.now() - started < 90_000) {
      const d = await handle.describe();
      checks++;
      if (d.status.name !== 'RUNNING') notRunning++;
      // Rows keep changing (rows already delivered: the failing page stays the same page).
      if (checks % 10 === 5) await updateCustomers(stack.pool, integration.table, keysOf('cus_long', 3, checks % 30));
      if (!sawInfo) {
        // `info` shows the attempt count, the last error and when the next attempt is.
        const info = await targetInfo(stack.deps, target.id);
        sawInfo = info.state === 'retrying' && info.retry_attempts >= 2 && /HTTP 429/.test(info.last_error ?? '') && info.next_attempt_at !== null;
      }
      if (!sawMetrics) {
        const text = await (await fetch(stack.metricsUrl)).text();
        const attempts = new RegExp(`^hooksync_delivery_retry_attempts\\{target="${target.id}",integration="${integration.id}"\\} (\\d+)$`, 'm').exec(text);
        const next = new RegExp(`^hooksync_delivery_next_attempt_timestamp_seconds\\{target="${target.id}",integration="${integration.id}"\\} ([\\d.e+]+)$`, 'm').exec(text);
        sawMetrics = Number(attempts?.[1]) >= 2 && Number(next?.[1]) > Date.now() / 1000 - 5;
      }
      if (!sawDetails) sawDetails = /State:\*\* retrying after `HTTP 429 Too Many Requests from 127\.0\.0\.1:\d+` since .*; attempt \d+ at/.test(await currentDetails(handle).catch(() => ''));
      // Paces the checks through the outage (its 90 s are the test's own clock); what is asserted holds for any pace.
      await sleep(500);
    }
    assert.equal(notRunning, 0, `the workflow was not running at ${notRunning} of ${checks} checks`);
    assert.ok(sawInfo, 'info showed the retry');
    assert.ok(sawMetrics, '/metrics showed the retry');
    assert.ok(sawDetails, 'the current details showed the retry');
    const during = await targetStatus(stack, target.id);
    assert.equal(during.state, 'retrying');
    const failed = syncPages(rcv).filter((p) => p.status === 429);
    // Retry-After: 1 is honoured, and no faster than the floor: at most about one attempt a second.
    assert.ok(failed.length >= 30 && failed.length <= 92, `${failed.length} attempts in 90 s`);
    assert.ok(during.retry!.attempts >= failed.length - 1, `the attempt count carried across runs: ${during.retry!.attempts} of ${failed.length}`);

    outage = false;
    await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000, what: 'every row after the outage' }));
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(rcv.maxConcurrent, 1);
    const failedIds = new Set(failed.map((p) => p.pageId));
    assert.equal(failedIds.size, 1, 'the same page every time');

    // Bounded: every run of the target, whatever it was doing.
    const runs = await runsOf(handle.workflowId);
    const counts = runs.map((r) => r.events);
    t.diagnostic(`${failed.length} failed attempts; ${runs.length} runs with ${counts.join(', ')} events`);
    assert.ok(runs.length >= 4, `${runs.length} runs`);
    assert.ok(Math.max(...counts) <= 200, `events per run: ${counts.join(', ')}`);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    const s = await waitFor(async () => {
      const x = await targetStatus(stack, target.id);
      return x.state === 'waiting' ? x : undefined;
    }, { what: 'waiting again' });
    assert.equal(s.retry, undefined);
    assert.ok(s.progress.errorCount >= failed.length);
    const info = await targetInfo(stack.deps, target.id);
    assert.equal(info.retry_attempts, 0);
    assert.equal(info.next_attempt_at, null);
    await recordIfAsked(stack.temporal.client, handle.workflowId, 'httpsync-outage-real', { maxRuns: 2 });
  });

  test('retries are gentle: at least a second between attempts whatever Retry-After says (0, a past date, garbage)', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    await insertCustomers(stack.pool, integration.table, keysOf('cus_gentle', 3));
    const values = ['0', 'Thu, 01 Jan 1970 00:00:00 GMT', 'whenever you like'];
    const runs = values.map(async (value) => {
      const rcv = await receiver();
      let failures = 5;
      rcv.respondWith((req) => (req.headers['hooksync-verification'] || failures-- <= 0 ? { status: 200 } : { status: 429, headers: { 'retry-after': value } }));
      await newTarget(stack, integration.id, rcv, { periodSeconds: 3600 });
      await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 90_000, what: `the rows after Retry-After: ${value}` });
      const times = syncPages(rcv).map((p) => p.at);
      return { value, gaps: times.slice(1).map((at, i) => at - times[i]!) };
    });
    for (const { value, gaps } of await Promise.all(runs)) {
      assert.equal(gaps.length, 5, `${value}: ${gaps.join(', ')}`);
      assert.ok(Math.min(...gaps) >= 990, `Retry-After: ${value}: gaps ${gaps.join(', ')} ms`);
    }
  });

  test('a failure after some pages (the database refusing to record one) keeps them: no page sent again, none skipped', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_blip', 30));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 3 });
    await waitForConvergence(stack, rcv, integration.table);
    // From here on, the 3rd and 4th and the 8th and 9th records of a delivered page fail.
    await stack.pool.query(`DROP SEQUENCE IF EXISTS test_blips; CREATE SEQUENCE test_blips`);
    await stack.pool.query(`
      CREATE OR REPLACE FUNCTION test_blip() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('test_blips') IN (3, 4, 8, 9) THEN RAISE EXCEPTION 'simulated database blip'; END IF;
        RETURN NEW;
      END $$`);
    await stack.pool.query(`
      CREATE TRIGGER test_blip BEFORE UPDATE OF cursor_txid ON sync_targets FOR EACH ROW
        WHEN (NEW.id = '${target.id}' AND NEW.pages_delivered > OLD.pages_delivered) EXECUTE FUNCTION test_blip()`);
    try {
      await updateCustomers(stack.pool, integration.table, keysOf('cus_blip', 30));
      await insertCustomers(stack.pool, integration.table, keysOf('cus_blip', 12, 30));
      await triggerTarget(stack.deps, target.id);
      await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 60_000 }));
    } finally {
      await stack.pool.query(`DROP TRIGGER IF EXISTS test_blip ON sync_targets`);
    }
    const pages = acceptedPages(rcv);
    assert.equal(new Set(pages.map((p) => p.pageId)).size, pages.length, 'no page was sent twice');
    assert.equal(syncPages(rcv).length, pages.length, 'no failed POST either: only the records failed');
    assertVersionsInOrder(rcv, { strict: true });
    const status = await waitFor(async () => {
      const s = await targetStatus(stack, target.id);
      return s.state === 'waiting' ? s : undefined;
    }, { what: 'waiting' });
    // The SQLSTATE and a fixed text reach Temporal, not PostgreSQL's message (it can quote data).
    assert.match(status.progress.lastError ?? '', /PostgreSQL error P0001 \(raised by a function or trigger\)/);
    assert.doesNotMatch(status.progress.lastError ?? '', /simulated database blip/);
    assert.ok(status.progress.errorCount >= 2);
    assert.equal(status.progress.pagesDelivered, pages.length);
    // The database caught up with the cursor at the next page it could record.
    const row = (await getTarget(stack.pool, target.id))!;
    assert.deepEqual({ txid: row.cursor_txid, seq: String(row.cursor_seq) }, status.progress.cursor);
  });

  test('update is one request at a time and atomic: the verification POST never overlaps a delivery; the new masked URL shows; Temporal unreachable changes nothing', { timeout: 180_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    rcv.respondWith(() => ({ status: 200, delayMs: 100 }));
    await insertCustomers(stack.pool, integration.table, keysOf('cus_upd', 150));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 2 });
    await waitFor(async () => acceptedPages(rcv).length >= 3 || undefined, { what: 'the delivery under way', intervalMs: 20 });
    // New URLs at the same receiver (as new credentials would be), while pages are being POSTed.
    for (let i = 1; i <= 4; i++) {
      await updateTarget(stack.deps, target.id, { url: `${rcv.url}?v=${i}`, pageSize: 2 + (i % 2) });
      await sleep(300);
    }
    await insertCustomers(stack.pool, integration.table, keysOf('cus_upd', 10, 150));
    await triggerTarget(stack.deps, target.id);
    await explained(stack, target.id, waitForConvergence(stack, rcv, integration.table, { timeoutMs: 90_000 }));
    assert.equal(rcv.requests.filter((r) => r.headers['hooksync-verification']).length, 5, 'create + 4 verification POSTs');
    assert.equal(rcv.maxConcurrent, 1, 'never two requests at once');
    assertVersionsInOrder(rcv, { strict: true });
    assert.equal(acceptedPages(rcv).at(-1)!.url, '/sync?v=4', 'the last URL is used');
    // The new masked URL: the database, info, the workflow's state and its current details.
    const masked = `https://***:***@127.0.0.1:${new URL(rcv.endpoint).port}/sync?v=4`;
    assert.equal((await targetInfo(stack.deps, target.id)).url, masked);
    await waitFor(async () => (await targetStatus(stack, target.id)).maskedUrl === masked || undefined, { what: 'the new URL in the workflow' });
    assert.ok((await currentDetails(targetHandle(stack, target.id))).includes(`**URL:** \`${masked}\``));
    // The run whose static summary named the old URL continued as new (a continued run has none).
    const runs = await runsOf(targetHandle(stack, target.id).workflowId);
    assert.ok(runs.length >= 2);

    // Refused settings change nothing anywhere.
    await assert.rejects(updateTarget(stack.deps, target.id, { pageSize: 0 }), (e: Error) => e instanceof ServiceError && e.code === 'invalid' && /page size must be/.test(e.message));
    // With Temporal unreachable the transaction rolls back: the database keeps the old settings.
    const dead = connectTemporal('127.0.0.1:1', stack.config.TEMPORAL_NAMESPACE);
    let failure = '';
    try {
      await assert.rejects(
        updateTarget({ ...stack.deps, temporal: dead }, target.id, { pageSize: 9, periodSeconds: 120 }),
        (e: Error) => {
          failure = e.message;
          return e instanceof ServiceError && e.code === 'unavailable';
        },
      );
    } finally {
      await dead.close();
    }
    // A refused connection: Temporal was surely never reached, so the database holds the old
    // settings again. Should the failure ever leave that open, the caller is told the change is
    // saved and pending (self-repair then sends it): never new settings in the workflow and old
    // ones in the database. Either way the workflow has not heard of it: self-repair, which runs
    // on its own connection, leaves a change to the call that made it for a while.
    const row = (await getTarget(stack.pool, target.id))!;
    if (row.page_size !== 2) assert.ok(row.pending_update_id && /it is saved/.test(failure), `new settings kept (${row.page_size}) after: ${failure}`);
    else assert.deepEqual([row.page_size, row.period_seconds], [2, 3600], failure);
    assert.deepEqual((await targetStatus(stack, target.id)).settings.pageSize, 2);
  });

  test('settings reaching the workflow from any Temporal client are checked there: page size 0 cannot stop delivery', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 4 });
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting' || undefined, { what: 'waiting' });
    const handle = targetHandle(stack, target.id);
    await handle.signal(configureSignal, { pageSize: 0, timeoutSeconds: -5 });
    await assert.rejects(handle.executeUpdate(configureUpdate, { args: [{ periodSeconds: 0 }] }), (e: Error) => {
      assert.ok(e instanceof WorkflowUpdateFailedError);
      assert.match(String((e.cause as Error).message), /period must be a whole number of seconds from 1 to 86400, got 0/);
      return true;
    });
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cfg', 9));
    await handle.signal('trigger');
    await waitForConvergence(stack, rcv, integration.table);
    assert.deepEqual(acceptedPages(rcv).map((p) => p.body.rows.length), [4, 4, 1]);
    const info = await targetInfo(stack.deps, target.id);
    assert.ok(info.warnings.some((w) => /refused: page size must be .* got 0; timeout must be .* got -5/.test(w)), JSON.stringify(info.warnings));
  });

  test('reset --from-start delivers every row again from the beginning, in order, paging as usual; info shows the reset', { timeout: 120_000 }, async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_reset', 23));
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 5 });
    await waitForConvergence(stack, rcv, integration.table);
    const first = acceptedPages(rcv).length;
    const env = stackEnv(stack);

    const refused = await runCli(['httpsync', 'reset', target.id], { env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--from-start/);

    const r = await runCli(['httpsync', 'reset', target.id, '--from-start', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.id, target.id);
    assert.match(out.reset_at, /^\d{4}-\d\d-\d\dT/);
    await explained(stack, target.id, waitFor(async () => rowIds(rcv).length === 46 || undefined, { what: 'every row again', timeoutMs: 30_000 }));
    const again = acceptedPages(rcv).slice(first);
    assert.deepEqual(again.map((p) => p.body.rows.length), [5, 5, 5, 5, 3]);
    assert.deepEqual(again.flatMap((p) => p.body.rows.map((row: any) => row.stripe_id)), await tableOrder(integration.table));
    assert.equal(rcv.maxConcurrent, 1);
    // The replayed pages carry the cursor's generation in their ids, so a receiver that
    // de-duplicates by id takes them; the pages before the reset kept the ids of generation 0.
    const before = acceptedPages(rcv).slice(0, first).map((p) => p.pageId!);
    assert.ok(before.every((id) => new RegExp(`^${target.id}:\\d+\\.\\d+-\\d+\\.\\d+$`).test(id)), before.join(' '));
    assert.ok(again.every((p) => new RegExp(`^${target.id}:g1:\\d+\\.\\d+-\\d+\\.\\d+$`).test(p.pageId!)), again.map((p) => p.pageId).join(' '));
    assert.ok(again.every((p) => p.headers['webhook-id'] === p.pageId));
    assert.ok(!again.some((p) => before.includes(p.pageId!)), 'no id of a replayed page is one seen before');

    const info = JSON.parse((await runCli(['httpsync', 'info', target.id, '--json'], { env })).stdout);
    assert.equal(info.resets, 1);
    assert.equal(info.reset_at, out.reset_at);
    for (const key of ['id', 'integration_id', 'url', 'period_seconds', 'page_size', 'timeout_seconds', 'mode', 'paused']) assert.ok(key in info, key);
    const text = (await runCli(['httpsync', 'info', target.id], { env })).stdout;
    assert.match(text, /│ reset\s+│ from the start at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \([^)]*\); 1 reset in all/);
    assert.match(await currentDetails(targetHandle(stack, target.id)), /Cursor:\*\* `\d+\/\d+` \(reset to the start at /);

    // A reset whose signal cannot be sent (Temporal unreachable) still takes effect: the next
    // delivery finds the database's newer generation.
    const dead = connectTemporal('127.0.0.1:1', stack.config.TEMPORAL_NAMESPACE);
    try {
      const lost = await resetTarget({ ...stack.deps, temporal: dead }, target.id);
      assert.equal(lost.workflow_told, false);
    } finally {
      await dead.close();
    }
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => rowIds(rcv).length === 69 || undefined, { what: 'every row a third time', timeoutMs: 30_000 });
    assert.deepEqual(rowIds(rcv).slice(46), await tableOrder(integration.table));
    assert.equal((await targetInfo(stack.deps, target.id)).resets, 2);
  });

  test('PostgreSQL connections use TCP keepalive on both ends', async () => {
    const c = await stack.pool.connect();
    try {
      // The server's side, set for each session.
      for (const [name, value] of [
        ['tcp_keepalives_idle', KEEPALIVE.idleSeconds],
        ['tcp_keepalives_interval', KEEPALIVE.intervalSeconds],
        ['tcp_keepalives_count', KEEPALIVE.count],
      ] as const) {
        assert.equal((await c.query(`SHOW ${name}`)).rows[0][name], String(value), name);
      }
      // The client's side: its socket has a keepalive timer (as the kernel shows it).
      const port = (await c.query('SELECT inet_client_port() AS port')).rows[0].port as number;
      const ss = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
      assert.match(ss, /timer:\(keepalive,/, ss);
    } finally {
      c.release();
    }
  });
});

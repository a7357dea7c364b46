import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../src/activities';
import { connectTemporal, type TemporalHandle } from '../src/temporal/client';
import { retryDelayMs, type RetrySchedule } from '../src/contract/retry';
import { httpSyncWorkflow } from '../src/workflows/httpsync';
import { configureSignal, configureUpdate, pauseSignal, reconcilerStatusQuery, repairNowSignal, resetSignal, rowsChangedSignal, statusQuery, triggerSignal } from '../src/contract/messages';
import { reconcilerWorkflow } from '../src/workflows/reconciler';
import type { RepairRound } from '../src/contract/reconciler';
import type { Cursor } from '../src/contract/cursor';
import type { DeliverFailureDetails, DeliverInput, DeliverResult } from '../src/contract/delivery';
import type { HttpSyncInput } from '../src/contract/httpsync';
import { START_CURSOR } from '../src/contract/cursor';
import { waitFor } from './support/harness';
import { recordIfAsked } from './support/histories';
import { runsWithEvents } from './support/httpsync';
import { currentDetails } from './support/ingest';

// The HTTP Sync workflow's own logic (retries, roll-over, settings, resets) against the real
// Temporal server, with the delivery activity mocked and the retry schedule scaled down from
// seconds to milliseconds: fast, and every branch on purpose. The real activity is tested in the
// other httpsync-*.test.ts files.

/**
 * 50 ms floor, 400 ms cap: the production schedule (1 s, 5 min) scaled down. (The dev server
 * fires timers to about a second, so each wait still takes about one; the jitter itself is
 * tested in test/unit/retry.test.ts and the floor with real waits in httpsync-lifetime.test.ts.)
 */
const FAST: RetrySchedule = { minMs: 50, initialMs: 50, maxMs: 400, jitter: 0.2 };

type Behaviour = (input: DeliverInput, call: number) => Promise<DeliverResult> | DeliverResult;
interface Call {
  input: DeliverInput;
  startedAt: number;
  endedAt?: number;
}

const result = (input: DeliverInput, over: Partial<DeliverResult> = {}): DeliverResult => ({
  cursor: input.cursor,
  generation: input.generation ?? 0,
  rows: 0,
  pages: 0,
  postCount: 0,
  postMsTotal: 0,
  more: false,
  ...over,
});
/** The cursor after `n` more rows of 1 row per page: txid 100, seq counting up. */
const after_ = (c: Cursor, n: number): Cursor => ({ txid: c.txid === '0' ? '100' : c.txid, seq: String(Number(c.seq) + n) });
const pages = (input: DeliverInput, n: number, more: boolean): DeliverResult =>
  result(input, { cursor: after_(input.cursor, n), rows: n, pages: n, postCount: n, postMsTotal: n * 3, more });
/** A failure as the real activity throws it: with the pages delivered before it. */
const failure = (message: string, partial: DeliverResult, extra: Omit<DeliverFailureDetails, 'partial'> = {}) =>
  ApplicationFailure.create({ message, type: 'DeliveryFailed', details: [{ partial, ...extra } satisfies DeliverFailureDetails] });

describe('the HTTP Sync workflow, with a mocked delivery activity', () => {
  let temporal: TemporalHandle;
  let connection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  const taskQueue = `wf-${crypto.randomBytes(5).toString('hex')}`;
  const behaviours = new Map<string, Behaviour>();
  const calls = new Map<string, Call[]>();
  let repairs: () => RepairRound = () => ({ at: new Date().toISOString(), reports: [] });
  let repairCalls = 0;

  before(async () => {
    const address = process.env.TEMPORAL_ADDRESS;
    if (!address || !process.env.HOOKSYNC_TEST_WORKFLOW_BUNDLE) throw new Error('run with `npm test`, which starts Temporal and bundles the workflows');
    temporal = connectTemporal(address, process.env.TEMPORAL_NAMESPACE ?? 'default');
    connection = await NativeConnection.connect({ address });
    const activities: Pick<Activities, 'deliverPages' | 'runRepairs'> = {
      async deliverPages(input) {
        const list = calls.get(input.targetId) ?? [];
        calls.set(input.targetId, list);
        const call: Call = { input, startedAt: Date.now() };
        list.push(call);
        try {
          const behaviour = behaviours.get(input.targetId);
          if (!behaviour) throw new Error(`no behaviour for ${input.targetId}`);
          return await behaviour(input, list.length);
        } finally {
          call.endedAt = Date.now();
        }
      },
      async runRepairs() {
        repairCalls++;
        return repairs();
      },
    };
    worker = await Worker.create({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue,
      workflowBundle: { codePath: process.env.HOOKSYNC_TEST_WORKFLOW_BUNDLE },
      activities,
    });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running?.catch(() => {});
    await connection?.close();
    await temporal?.close();
  });

  let n = 0;
  async function start(behaviour: Behaviour, over: Partial<HttpSyncInput> = {}): Promise<{ id: string; handle: WorkflowHandle<typeof httpSyncWorkflow> }> {
    const id = `hst_wf${++n}_${crypto.randomBytes(4).toString('hex')}`;
    behaviours.set(id, behaviour);
    const input: HttpSyncInput = {
      targetId: id,
      settings: { periodSeconds: 3600, pageSize: 10, timeoutSeconds: 5, mode: 'interval', paused: false },
      labels: { integrationId: 'svi_wf', service: 'stripe_customer_v1', table: 'stripe_customer_v1_0000', maskedUrl: 'https://***:***@receiver.example/sync' },
      retrySchedule: FAST,
      ...over,
    };
    const handle = await temporal.client.workflow.start(httpSyncWorkflow, { workflowId: `httpsync-${id}`, taskQueue, args: [input] });
    return { id, handle };
  }
  const callsOf = (id: string) => calls.get(id) ?? [];
  const status = (h: WorkflowHandle) => h.query(statusQuery);
  const runsOf = (workflowId: string) => runsWithEvents(temporal.client, workflowId);
  const eventCounts = async (workflowId: string) => (await runsOf(workflowId)).map((r) => r.events);

  test('a long outage: at least the floor between attempts whatever Retry-After says, capped backoff, the count and the pages delivered kept across continue-as-new', async (t) => {
    const retryAfters = [0, undefined, -60_000, 3_600_000, 0, undefined, -1, 10, undefined, 0];
    const failures = retryAfters.length + 1;
    const { id, handle } = await start(
      (input, call) => {
        if (call === 1) throw failure('HTTP 503 from receiver.example', pages(input, 2, true), { retryAfterMs: 0 });
        if (call <= failures) {
          const retryAfterMs = retryAfters[call - 2];
          // As the real activity does: it picks the delay (or leaves it to the workflow for odd failures).
          const extra = call % 3 === 0 ? {} : { retryAfterMs, retryDelayMs: retryDelayMs(input.attempt ?? 1, retryAfterMs, Math.random(), input.retrySchedule) };
          throw failure(`HTTP 429 from receiver.example (attempt ${input.attempt})`, result(input, { postCount: 1 }), extra);
        }
        return pages(input, 3, false);
      },
      { historyLimit: 40 },
    );
    // While it retries, the attempt count, the error and the next attempt are in its state and details.
    const retrying = await waitFor(async () => {
      const s = await status(handle);
      return s.retry && s.retry.attempts >= 3 ? s : undefined;
    }, { what: 'the retrying state', intervalMs: 20 });
    assert.match(retrying.retry!.error, /HTTP 429/);
    assert.ok(Date.parse(retrying.retry!.nextAttemptAt) >= Date.parse(retrying.progress.lastErrorAt!));
    const details = await currentDetails(handle);
    assert.match(details, /State:\*\* retrying after `HTTP (429|503)[^`]*` since .*; attempt \d+ at \d{4}-/);

    await waitFor(async () => (await status(handle)).progress.rowsDelivered === 5 || undefined, { what: 'the delivery after the outage', timeoutMs: 30_000 });
    const list = callsOf(id);
    assert.equal(list.length, failures + 1);
    // The attempt number goes on across the runs; the pages delivered before the first failure
    // are never asked for again.
    assert.deepEqual(list.map((c) => c.input.attempt), [...Array.from({ length: failures }, (_, i) => i + 1), failures + 1]);
    for (const c of list.slice(1)) assert.deepEqual(c.input.cursor, { txid: '100', seq: '2' });
    // At least the floor between one attempt's end and the next one's start, whatever Retry-After said; at most the cap (plus scheduling).
    const gaps = list.slice(1).map((c, i) => c.startedAt - list[i]!.endedAt!);
    t.diagnostic(`gaps between attempts: ${gaps.join(', ')} ms`);
    assert.ok(Math.min(...gaps) >= FAST.minMs - 5, `gaps ${gaps.join(', ')} ms`);
    // (The dev server fires timers to about a second: sub-second waits take about one.)
    assert.ok(Math.max(...gaps) < FAST.maxMs + 2_000, `gaps ${gaps.join(', ')} ms`);

    const final = await status(handle);
    assert.equal(final.retry, undefined);
    assert.equal(final.state, 'waiting');
    assert.equal(final.progress.errorCount, failures);
    assert.equal(final.progress.pagesDelivered, 5);
    assert.deepEqual(final.progress.cursor, { txid: '100', seq: '5' });
    assert.equal(final.progress.syncs, 1, 'one sync, retried');
    // The outage spread over several runs, each bounded.
    const counts = await eventCounts(handle.workflowId);
    assert.ok(counts.length >= 3, `${counts.length} runs`);
    assert.ok(Math.max(...counts) <= 40 + 15, `events per run: ${counts.join(', ')}`);
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-retrying', { maxRuns: 4 });
  });

  test('a long drain continues as new in the middle, carrying its cursor; one sync, no page asked for twice', async () => {
    const { id, handle } = await start((input, call) => pages(input, 1, call < 25), { historyLimit: 40 });
    await waitFor(async () => (await status(handle)).progress.pagesDelivered === 25 || undefined, { what: 'the 25 pages', timeoutMs: 30_000 });
    const list = callsOf(id);
    assert.equal(list.length, 25);
    list.forEach((c, i) => assert.deepEqual(c.input.cursor, i === 0 ? START_CURSOR : { txid: '100', seq: String(i) }));
    const s = await status(handle);
    assert.equal(s.progress.syncs, 1);
    assert.equal(s.state, 'waiting');
    const counts = await eventCounts(handle.workflowId);
    assert.ok(counts.length >= 3 && Math.max(...counts) <= 40 + 12, `events per run: ${counts.join(', ')}`);
    assert.equal((await handle.describe()).status.name, 'RUNNING');
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-draining', { maxRuns: 2 });
  });

  test('waiting, then a trigger; a trigger also cuts a retry wait short', async () => {
    let failing = true;
    const slow: RetrySchedule = { minMs: 60_000, initialMs: 60_000, maxMs: 300_000, jitter: 0.2 };
    const { id, handle } = await start((input) => {
      if (failing) throw failure('HTTP 500 from receiver.example', result(input, { postCount: 1 }));
      return pages(input, 1, false);
    }, { retrySchedule: slow });
    const s = await waitFor(async () => {
      const x = await status(handle);
      return x.state === 'retrying' ? x : undefined;
    }, { what: 'retrying' });
    assert.ok(Date.parse(s.retry!.nextAttemptAt) - Date.now() > 30_000, 'the next attempt is a minute away');
    failing = false;
    const at = Date.now();
    await handle.signal(triggerSignal);
    await waitFor(async () => callsOf(id).length === 2, { what: 'the triggered attempt', timeoutMs: 10_000, intervalMs: 20 });
    assert.ok(Date.now() - at < 5_000);
    await waitFor(async () => (await status(handle)).state === 'waiting' || undefined, { what: 'waiting' });
    // Waiting for its period (an hour): a trigger syncs at once.
    await handle.signal(triggerSignal);
    await waitFor(async () => callsOf(id).length === 3, { what: 'the triggered sync', timeoutMs: 10_000, intervalMs: 20 });
    await waitFor(async () => (await status(handle)).progress.syncs === 2 || undefined, { what: 'two syncs' });
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-waiting-trigger');
  });

  test('new rows (rowsChanged) sync an on-insert target at once but never cut a retry wait short; a trigger does', async () => {
    let failing = false;
    const slow: RetrySchedule = { minMs: 60_000, initialMs: 60_000, maxMs: 300_000, jitter: 0.2 };
    const { id, handle } = await start((input) => {
      if (failing) throw failure('HTTP 429 from receiver.example', result(input, { postCount: 1 }), { retryAfterMs: 60_000 });
      return pages(input, 1, false);
    }, { retrySchedule: slow, settings: { periodSeconds: 3600, pageSize: 10, timeoutSeconds: 5, mode: 'on_insert', paused: false } });
    await waitFor(async () => (await status(handle)).state === 'waiting' || undefined, { what: 'the first sync done' });
    failing = true;
    await handle.signal(rowsChangedSignal);
    await waitFor(async () => (await status(handle)).state === 'retrying' || undefined, { what: 'the sync of the new rows, failing' });
    assert.equal(callsOf(id).length, 2);
    for (let i = 0; i < 5; i++) await handle.signal(rowsChangedSignal);
    // An update is handled after the signals sent before it: once it answers, they have been seen.
    await handle.executeUpdate(configureUpdate, { args: [{ timeoutSeconds: 6 }] });
    const s = await status(handle);
    assert.equal(s.state, 'retrying');
    assert.equal(callsOf(id).length, 2, 'the Retry-After holds: no attempt before its time');
    assert.ok(Date.parse(s.retry!.nextAttemptAt) - Date.now() > 30_000);
    failing = false;
    await handle.signal(triggerSignal);
    await waitFor(async () => callsOf(id).length === 3 || undefined, { what: 'the triggered attempt', timeoutMs: 10_000, intervalMs: 20 });
    await waitFor(async () => (await status(handle)).state === 'waiting' || undefined, { what: 'waiting' });
    assert.equal((await status(handle)).progress.rowsDelivered, 2);
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-rows-changed');
  });

  test('paused and flooded with signals: every run stays bounded, and it stays paused', async (t) => {
    const { id, handle } = await start((input) => pages(input, 1, false), { historyLimit: 40 });
    await waitFor(async () => (await status(handle)).progress.syncs === 1 || undefined, { what: 'the first sync' });
    await handle.signal(pauseSignal);
    // Rounds of signals, a moment apart (as a busy sender would), each one waking the paused workflow.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 10; i++) await handle.signal(triggerSignal);
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor(async () => (await runsOf(handle.workflowId)).length >= 2 || undefined, { what: 'a continue-as-new while paused' });
    const s = await status(handle);
    assert.equal(s.state, 'paused');
    assert.equal(s.settings.paused, true);
    assert.equal(callsOf(id).length, 1, 'nothing delivered while paused');
    // Signals that keep arriving while a run hands over land in that run (Temporal retries the
    // continue-as-new after them), so a run may pass the limit by about one round; then it rolls over.
    const counts = await eventCounts(handle.workflowId);
    t.diagnostic(`events per run: ${counts.join(', ')}`);
    assert.ok(counts.length >= 3 && Math.max(...counts) <= 40 + 50, `events per run: ${counts.join(', ')}`);
    await handle.signal('resume');
    await waitFor(async () => callsOf(id).length === 2, { what: 'the sync on resume' });
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-pause-resume', { maxRuns: 2 });
  });

  test('configure: a bad page size, period or timeout is refused (an update says why; a signal applies only the good fields)', async () => {
    const { id, handle } = await start((input) => pages(input, 1, false));
    await waitFor(async () => (await status(handle)).progress.syncs === 1 || undefined, { what: 'the first sync' });
    for (const bad of [{ pageSize: 0 }, { periodSeconds: -1 }, { timeoutSeconds: 1e9 }, { pageSize: 2.5 }, { pageSize: '7' }, { colour: 'red' }, { maskedUrl: 'https://user:secret@h/' }]) {
      await assert.rejects(handle.executeUpdate(configureUpdate, { args: [bad as never] }), (err: Error) => {
        assert.ok(err instanceof WorkflowUpdateFailedError, err.name);
        assert.match(String((err.cause as Error)?.message), /must be|unknown setting/, JSON.stringify(bad));
        return true;
      });
    }
    assert.deepEqual((await status(handle)).settings, { periodSeconds: 3600, pageSize: 10, timeoutSeconds: 5, mode: 'interval', paused: false });
    // Any Temporal client can send the signal: page size 0 cannot stop delivery.
    await handle.signal(configureSignal, { pageSize: 0, periodSeconds: 1800 });
    const s = await waitFor(async () => {
      const x = await status(handle);
      return x.settings.periodSeconds === 1800 ? x : undefined;
    }, { what: 'the good half of the signal' });
    assert.equal(s.settings.pageSize, 10);
    assert.ok(s.warnings?.some((w) => /refused: page size must be a whole number from 1 to 10000, got 0/.test(w)), JSON.stringify(s.warnings));
    assert.match(await currentDetails(handle), /Warning:\*\* `a change of settings was refused: page size must be/);
    // A good update applies at once and says what the settings are now.
    const settings = await handle.executeUpdate(configureUpdate, { args: [{ pageSize: 7, maskedUrl: 'https://***:***@other.example/sync' }] });
    assert.equal(settings.pageSize, 7);
    await handle.signal(triggerSignal);
    await waitFor(async () => callsOf(id).length === 2, { what: 'the next sync' });
    assert.equal(callsOf(id)[1]!.input.pageSize, 7);
    // The new URL: in the details at once, and the run with the old summary continued as new.
    await waitFor(async () => (await runsOf(handle.workflowId)).length >= 2 || undefined, { what: 'the roll-over after the URL changed' });
    const details = await currentDetails(handle);
    assert.match(details, /URL:\*\* `https:\/\/\*\*\*:\*\*\*@other\.example\/sync`/);
    assert.equal((await status(handle)).maskedUrl, 'https://***:***@other.example/sync');
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-configure');
  });

  test('reset: back to the start under a new generation; a delivery from before the reset cannot move the cursor', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { id, handle } = await start(async (input, call) => {
      if (call === 1) return pages(input, 4, false);
      if (call === 2) {
        await gate;
        return pages(input, 2, false);
      }
      return pages(input, 5, false);
    });
    await waitFor(async () => (await status(handle)).progress.pagesDelivered === 4 || undefined, { what: 'the first 4 pages' });
    await handle.signal(triggerSignal);
    await waitFor(async () => callsOf(id).length === 2, { what: 'the second delivery to start' });
    // The database reset the cursor (generation 1) while that delivery was in flight.
    await handle.signal(resetSignal, { generation: 1, at: '2026-11-27T12:00:00.000Z' });
    release();
    await waitFor(async () => callsOf(id).length === 3, { what: 'the delivery from the start' });
    assert.deepEqual(callsOf(id)[2]!.input.cursor, START_CURSOR);
    assert.equal(callsOf(id)[2]!.input.generation, 1);
    const s = await waitFor(async () => {
      const x = await status(handle);
      return x.progress.pagesDelivered === 11 ? x : undefined;
    }, { what: 'all pages counted' });
    // Not (100, 6), where the delivery from before the reset got to.
    assert.deepEqual(s.progress.cursor, { txid: '100', seq: '5' }, 'the stale result did not move the cursor');
    assert.equal(s.generation, 1);
    assert.equal(s.resetAt, '2026-11-27T12:00:00.000Z');
    assert.match(await currentDetails(handle), /Cursor:\*\* `100\/5` \(reset to the start at 2026-11-27 12:00:00 UTC\)/);
    // The same generation again changes nothing.
    await handle.signal(resetSignal, { generation: 1, at: '2026-11-27T13:00:00.000Z' });
    assert.equal((await status(handle)).resetAt, '2026-11-27T12:00:00.000Z');
    await recordIfAsked(temporal.client, handle.workflowId, 'httpsync-reset');
  });

  test('a reset the workflow did not hear of (the database\'s generation is newer) is taken from the delivery\'s result', async () => {
    const { handle } = await start((input) => ({ ...pages({ ...input, cursor: START_CURSOR }, 3, false), generation: 2, resetAt: '2026-11-27T12:00:00.000Z' }), {
      progress: { cursor: { txid: '900', seq: '9' }, rowsDelivered: 90, pagesDelivered: 9, postCount: 9, postMsTotal: 9, syncs: 3, errorCount: 0 },
      wake: true,
    });
    const s = await waitFor(async () => {
      const x = await status(handle);
      return x.generation === 2 ? x : undefined;
    }, { what: 'the new generation' });
    assert.deepEqual(s.progress.cursor, { txid: '100', seq: '3' });
    assert.equal(s.resetAt, '2026-11-27T12:00:00.000Z');
  });

  test('the reconciler: a round at once, then one per period; continues as new carrying its count', async () => {
    repairCalls = 0;
    repairs = () => ({ at: new Date().toISOString(), reports: [{ step: 'target-workflows', ok: true, summary: '3 target(s); every workflow running', ms: 2 }] });
    const handle = await temporal.client.workflow.signalWithStart(reconcilerWorkflow, {
      workflowId: `reconciler-${taskQueue}`,
      taskQueue,
      args: [{ periodMs: 150, historyLimit: 30 }],
      signal: repairNowSignal,
      signalArgs: [],
    });
    await waitFor(async () => repairCalls >= 8 || undefined, { what: 'eight rounds', timeoutMs: 20_000 });
    const s = await handle.query(reconcilerStatusQuery);
    assert.ok(s.rounds >= 7, `${s.rounds} rounds`);
    assert.equal(s.last?.reports[0]?.step, 'target-workflows');
    assert.match(await currentDetails(handle), /target-workflows:\*\* `3 target\(s\); every workflow running`/);
    const counts = await eventCounts(handle.workflowId);
    assert.ok(counts.length >= 2 && Math.max(...counts) <= 30 + 12, `events per run: ${counts.join(', ')}`);
    await recordIfAsked(temporal.client, handle.workflowId, 'reconciler', { maxRuns: 2 });
    await handle.terminate('test over');
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { triggerTarget } from '../src/services/target-signals';
import { updateTarget } from '../src/services/targets';
import { httpSyncWorkflowId } from '../src/contract/names';
import type { HttpSyncInput } from '../src/contract/httpsync';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  allText,
  assertNoSecret,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  secretForms,
  syncPages,
  targetHandle,
  targetStatus,
  updateCustomers,
  WEBHOOK_SECRET,
} from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

// Guarantees 12 (continue-as-new keeps history bounded and the cursor) and 13 (the Basic Auth
// password appears nowhere in Temporal), on a stack whose targets continue as new past 60 events.
describe('HTTP Sync history', () => {
  let stack: Stack;
  let receiver: Receiver;
  let receiver2: Receiver;
  const PASSWORD = 'Pw-history-Xq83nVd2LkT';
  const PASSWORD2 = 'Pw-history-second-M5s7Wc';
  let integrationId: string;
  let table: string;
  let targetId: string;

  before(async () => {
    [stack, receiver, receiver2] = await Promise.all([
      startStack({ env: { HOOKSYNC_HISTORY_LIMIT: '60' } }),
      startReceiver({ user: 'histuser', password: PASSWORD }),
      startReceiver({ user: 'histuser2', password: PASSWORD2 }),
    ]);
  });
  after(async () => {
    await Promise.all([stack?.close(), receiver?.close(), receiver2?.close()]);
  });

  /** Accepted sync pages of both receivers, in the order they were accepted. */
  const accepted = () =>
    [...syncPages(receiver), ...syncPages(receiver2)].filter((p) => p.accepted).sort((a, b) => a.at - b.at);

  async function runsOf(workflowId: string) {
    const runs: Array<{ runId: string; status: string; historyLength: number }> = [];
    for await (const wf of stack.temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push({ runId: wf.runId, status: wf.status.name, historyLength: wf.historyLength });
    }
    return runs;
  }

  test('many drains, failures and updates: the workflow continues as new with its cursor and counters; nothing re-sent, nothing skipped', async () => {
    const integration = await newIntegration(stack);
    integrationId = integration.id;
    table = integration.table;
    const target = await newTarget(stack, integration.id, receiver, { periodSeconds: 3600, pageSize: 5 });
    targetId = target.id;
    const handle = targetHandle(stack, targetId);
    const firstRunId = (await handle.describe()).runId;
    // The workflow was given the limit, and no URL.
    const start = (await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId), firstRunId).fetchHistory()).events![0]!;
    assert.ok(start.workflowExecutionStartedEventAttributes, 'the first event starts the workflow');

    let expectedRows = 0;
    const versions = new Map<string, number>();
    for (let round = 0; round < 14; round++) {
      const fresh = keysOf(`cus_h${String(round).padStart(2, '0')}_`, 3);
      const old = round > 0 ? [`cus_h${String(round - 1).padStart(2, '0')}_00000`] : [];
      if (round === 4) {
        // The receiver fails twice: the same page comes again.
        let fails = 2;
        receiver.respondWith(() => (fails-- > 0 ? { status: 500, body: { error: 'flaky' } } : { status: 200 }));
      }
      if (round === 5) {
        // A smaller timeout, and a receiver that hangs once.
        await updateTarget(stack.deps, targetId, { timeoutSeconds: 1 });
        let hangs = 1;
        receiver.respondWith(() => (hangs-- > 0 ? { status: 200, delayMs: 5_000 } : { status: 200 }));
      }
      if (round === 7) {
        // New credentials: the rest goes to another endpoint.
        await updateTarget(stack.deps, targetId, { url: receiver2.url, timeoutSeconds: 30 });
      }
      await insertCustomers(stack.pool, table, fresh);
      await updateCustomers(stack.pool, table, old);
      for (const k of fresh) versions.set(k, 1);
      for (const k of old) versions.set(k, (versions.get(k) ?? 1) + 1);
      expectedRows += fresh.length + old.length;
      await triggerTarget(stack.deps, targetId);
      await explained(
        stack,
        targetId,
        waitFor(async () => accepted().flatMap((p) => p.body.rows).length === expectedRows, { what: `round ${round}'s rows`, timeoutMs: 30_000 }),
      );
    }

    // Later runs: the first one (and maybe more) continued as new.
    const current = await handle.describe();
    assert.equal(current.status.name, 'RUNNING');
    assert.notEqual(current.runId, firstRunId, 'a later run');
    const runs = await waitFor(async () => {
      const r = await runsOf(httpSyncWorkflowId(targetId));
      return r.length >= 2 && r.some((x) => x.runId === firstRunId) ? r : undefined;
    }, { what: 'the runs in the visibility list' });
    for (const run of runs.filter((r) => r.runId !== current.runId)) {
      assert.equal(run.status, 'CONTINUED_AS_NEW');
      const history = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId), run.runId).fetchHistory();
      // Bounded: the limit plus at most one round of events.
      assert.ok(history.events!.length < 60 + 40, `run ${run.runId} has ${history.events!.length} events`);
      assert.ok(history.events!.at(-1)!.workflowExecutionContinuedAsNewEventAttributes, 'the run ends by continuing as new');
    }

    // Every row version once, in order, across the runs: the cursor was carried, not reset.
    const rows = accepted().flatMap((p) => p.body.rows);
    assert.equal(rows.length, expectedRows);
    assert.equal(new Set(rows.map((r: any) => `${r.stripe_id}@${r.balance}`)).size, expectedRows, 'nothing sent twice');
    const last = new Map<string, number>();
    for (const r of rows) last.set(r.stripe_id, Number(r.balance));
    assert.deepEqual(last, versions);
    assertVersionsInOrder(accepted(), { strict: true });
    // Counters carried across the runs.
    const status = await waitFor(async () => {
      const s = await targetStatus(stack, targetId);
      return s.progress.rowsDelivered === expectedRows && s.state === 'waiting' ? s : undefined;
    }, { what: 'the workflow to record the last delivery' });
    assert.equal(status.progress.pagesDelivered, accepted().length);
    assert.ok(status.progress.errorCount >= 3, `${status.progress.errorCount} errors`);
    const { rows: tail } = await stack.pool.query(`SELECT _txid::text AS txid, _seq::text AS seq FROM ${table} ORDER BY _txid DESC, _seq DESC LIMIT 1`);
    assert.deepEqual(status.progress.cursor, { txid: tail[0].txid, seq: tail[0].seq });
    // The settings too.
    assert.deepEqual(status.settings, { periodSeconds: 3600, pageSize: 5, timeoutSeconds: 30, mode: 'interval', paused: false });
    // And the continued run still takes signals: one more drain.
    await insertCustomers(stack.pool, table, ['cus_h_after']);
    await targetHandle(stack, targetId).signal('trigger');
    await waitFor(async () => accepted().flatMap((p) => p.body.rows).some((r: any) => r.stripe_id === 'cus_h_after'), { what: 'a drain of the continued run' });
  });

  test('the Basic Auth passwords appear nowhere in Temporal: histories of all runs, inputs, results, memo, search attributes, descriptions, queries', async () => {
    assert.ok(targetId, 'the previous test created the target');
    // An ingest workflow of the same stack too, and a target created and deleted.
    const event = customerEvent({ type: 'customer.created', id: 'cus_HistSecret', created: Math.floor(Date.now() / 1000) });
    assert.equal((await postEvent(stack.apiUrl, integrationId, event, WEBHOOK_SECRET)).status, 200);
    const short = await newTarget(stack, integrationId, receiver, { periodSeconds: 3600 });
    await waitFor(async () => (await targetStatus(stack, short.id)).progress.syncs >= 1, { what: 'the short-lived target to sync' });
    const { deleteTarget } = await import('../src/services/targets');
    await deleteTarget(stack.deps, short.id);

    const secrets = [...secretForms('histuser', PASSWORD), ...secretForms('histuser2', PASSWORD2)];
    const executions: Array<{ workflowId: string; runId: string }> = [];
    for await (const wf of stack.temporal.client.workflow.list({ query: `TaskQueue = '${stack.config.HOOKSYNC_TASK_QUEUE}'` })) {
      executions.push({ workflowId: wf.workflowId, runId: wf.runId });
      assertNoSecret(allText(wf), secrets, `the listing of ${wf.workflowId}`);
    }
    const targetRuns = executions.filter((e) => e.workflowId === httpSyncWorkflowId(targetId));
    assert.ok(targetRuns.length >= 2, `${targetRuns.length} runs of the target`);
    assert.ok(executions.some((e) => e.workflowId.startsWith('ingest-')), 'an ingest workflow');
    assert.ok(executions.some((e) => e.workflowId === httpSyncWorkflowId(short.id)));

    let events = 0;
    let inputsSeen = 0;
    for (const e of executions) {
      const h = stack.temporal.client.workflow.getHandle(e.workflowId, e.runId);
      const [history, description] = await Promise.all([h.fetchHistory(), h.describe()]);
      events += history.events?.length ?? 0;
      assertNoSecret(allText(history), secrets, `the history of ${e.workflowId} run ${e.runId}`);
      assertNoSecret(allText(description), secrets, `the description of ${e.workflowId} run ${e.runId}`);
      assertNoSecret(allText(await description.memo), secrets, `the memo of ${e.workflowId}`);
      assertNoSecret(allText(description.typedSearchAttributes), secrets, `the search attributes of ${e.workflowId}`);
      // The decoded inputs (the payloads themselves are checked above as bytes).
      const startInput = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input;
      if (e.workflowId.startsWith('httpsync-') && startInput) {
        const [input] = (await Promise.all(
          (startInput.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p)),
        )) as HttpSyncInput[];
        assert.equal(input!.targetId, e.workflowId.replace(/^httpsync-/, ''));
        assert.match(input!.labels.maskedUrl, /^https:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/sync$/);
        assertNoSecret(JSON.stringify(input), secrets, `the input of ${e.workflowId}`);
        inputsSeen++;
      }
    }
    assert.ok(events > 200, `${events} history events searched`);
    assert.ok(inputsSeen >= 3);
    // The live state: the status query and the deleted target's result.
    assertNoSecret(allText(await targetStatus(stack, targetId)), secrets, 'the status query');
    const result = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(short.id)).result();
    assertNoSecret(allText(result), secrets, 'the result of a deleted target');
    // The check itself finds a secret where there is one.
    assert.throws(() => assertNoSecret(allText({ payload: new TextEncoder().encode(`x${PASSWORD}y`) }), secrets, 'a test value'));
  });
});

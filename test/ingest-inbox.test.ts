import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { createIntegration, integrationInfo, type IntegrationView } from '../src/services/integrations';
import { retryFailed } from '../src/services/integration-retry';
import { createTarget } from '../src/services/targets';
import { ingestWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { metric } from './support/metrics';
import { currentDetails, detailsTotals, historyText, inboxRows, keysInShard, rowOf, tcpProxy } from './support/ingest';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent, type CustomerEventInput } from './support/stripe';

// The inbox's guarantees against the real Temporal and PostgreSQL: ties follow the descriptor's
// precedence whatever the order of arrival, the inbox's depth and the dead letters show where
// operators look, Temporal being away loses nothing, and Temporal never holds customer data.

const SECRET = 'whsec_' + 'inboxtests'.repeat(3);
const T0 = 1_710_000_000;
const RUN = crypto.randomBytes(3).toString('hex');

/** Every email, name and phone sent in this file: none may ever appear in Temporal. */
const personal = new Set<string>();
let people = 0;
function person(): { email: string; name: string; phone: string } {
  people += 1;
  const p = {
    email: `grace.hopper.${RUN}.${people}@example.com`,
    name: `Grace Hopper ${RUN} ${people}`,
    phone: `+1555${RUN}${String(people).padStart(4, '0')}`.slice(0, 16),
  };
  personal.add(p.email).add(p.name).add(p.phone);
  return p;
}

const scrape = async (metricsUrl: string) => (await fetch(metricsUrl)).text();

describe('ingest: the inbox', { timeout: 300_000 }, () => {
  let stack: Stack;
  let receiver: Receiver;
  let shards: number;
  /** Integrations created here, whose workflows' histories the last test reads. */
  const created: IntegrationView[] = [];
  const targets: string[] = [];

  before(async () => {
    [stack, receiver] = await Promise.all([startStack(), startReceiver()]);
    shards = stack.config.HOOKSYNC_INGEST_SHARDS;
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  const integration = async () => {
    const i = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    created.push(i);
    return i;
  };
  const event = (input: Omit<CustomerEventInput, 'email' | 'name' | 'phone'>) => customerEvent({ ...input, ...person() });
  const send = async (i: IntegrationView, e: Record<string, any>, apiUrl = stack.apiUrl) => {
    const res = await postEvent(apiUrl, i.id, e, SECRET);
    assert.equal(res.status, 200, `${e.type} ${e.data.object.id}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  const count = async (i: IntegrationView) => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${i.table}`)).rows[0].n as number;

  const ORDERS: Array<Array<'customer.created' | 'customer.updated' | 'customer.deleted'>> = [
    ['customer.created', 'customer.updated', 'customer.deleted'],
    ['customer.created', 'customer.deleted', 'customer.updated'],
    ['customer.updated', 'customer.created', 'customer.deleted'],
    ['customer.updated', 'customer.deleted', 'customer.created'],
    ['customer.deleted', 'customer.created', 'customer.updated'],
    ['customer.deleted', 'customer.updated', 'customer.created'],
  ];
  const RANK = { 'customer.created': 0, 'customer.updated': 1, 'customer.deleted': 2 } as const;

  test('ties: at the same upstream second customer.deleted beats customer.updated beats customer.created, in every order of arrival, each applied before the next arrives', async () => {
    const i = await integration();
    for (const [o, order] of ORDERS.entries()) {
      const id = `cus_TieApart${o}`;
      let best: { type: string; event: Record<string, any> } | undefined;
      for (const type of order) {
        const e = event({ type, id, created: T0 });
        await send(i, e);
        if (!best || RANK[type] > RANK[best.type as keyof typeof RANK]) best = { type, event: e };
        // This one applied (or discarded) before the next is sent.
        const expected = best;
        await waitFor(async () => {
          const row = await rowOf(stack.pool, i.table, id);
          return row && row.data.email === expected.event.data.object.email && (await inboxRows(stack.pool, i.id)).length === 0;
        }, { what: `${id} after ${type}` });
      }
      const row = await rowOf(stack.pool, i.table, id);
      assert.equal(row.deleted, true, `${order.join(' → ')}: deleted wins`);
      assert.equal(row._precedence, RANK['customer.deleted']);
      assert.deepEqual(row.data, best!.event.data.object, `${order.join(' → ')}: the deletion's object`);
    }
  });

  test('ties: also when all versions arrive together and are applied by one statement', async () => {
    const i = await integration();
    await stack.stopWorker();
    const sent = new Map<string, Record<string, any>>();
    try {
      for (const [o, order] of ORDERS.entries()) {
        const id = `cus_TieTogether${o}`;
        for (const type of order) {
          const e = event({ type, id, created: T0 });
          await send(i, e);
          if (type === 'customer.deleted') sent.set(id, e);
        }
        // And an older creation, arriving last: older always loses.
        await send(i, event({ type: 'customer.created', id, created: T0 - 1 }));
      }
      assert.equal((await inboxRows(stack.pool, i.id)).length, ORDERS.length * 4, 'all waiting in the inbox');
    } finally {
      await stack.startWorker();
    }
    await waitFor(async () => (await count(i)) === ORDERS.length && (await inboxRows(stack.pool, i.id)).length === 0, { what: 'the rows' });
    for (const [id, deletion] of sent) {
      const row = await rowOf(stack.pool, i.table, id);
      assert.equal(row.deleted, true, id);
      assert.equal(row.updated.getTime(), T0 * 1000);
      assert.deepEqual(row.data, deletion.data.object, id);
    }
    // The deletion, redelivered, and a weaker version of the same second: the row is not re-stamped.
    const [id, deletion] = [...sent][0]!;
    const stored = await rowOf(stack.pool, i.table, id);
    await send(i, deletion);
    await send(i, event({ type: 'customer.updated', id, created: T0 }));
    await waitFor(async () => (await inboxRows(stack.pool, i.id)).length === 0, { what: 'the inbox applied' });
    assert.deepEqual(await rowOf(stack.pool, i.table, id), stored, 'same _txid, _seq, _changed_at');
  });

  test('the inbox depth shows in integrations info, /metrics and the workflow details; the workflow summarizes each apply', async () => {
    const i = await integration();
    await stack.stopWorker();
    try {
      for (let n = 0; n < 5; n++) await send(i, event({ type: 'customer.created', id: `cus_Depth${n}`, created: T0 + n }));
      await new Promise((r) => setTimeout(r, 1_100));
      const info = await integrationInfo(stack.deps, i.id);
      assert.equal(info.inbox_waiting, 5);
      assert.ok(info.inbox_oldest_age_seconds! >= 1, `oldest ${info.inbox_oldest_age_seconds} s`);
      assert.equal(info.dead_letters, 0);
      const text = await scrape(stack.metricsUrl);
      assert.equal(metric(text, 'hooksync_inbox_events', { integration: i.id }), 5);
      assert.ok(metric(text, 'hooksync_inbox_oldest_age_seconds', { integration: i.id }) >= 1);
      assert.equal(metric(text, 'hooksync_dead_letters', { integration: i.id }), 0);
    } finally {
      await stack.startWorker();
    }
    await waitFor(async () => (await integrationInfo(stack.deps, i.id)).inbox_waiting === 0, { what: 'the inbox drained' });
    assert.equal(await count(i), 5);
    const text = await scrape(stack.metricsUrl);
    assert.equal(metric(text, 'hooksync_inbox_events', { integration: i.id }), 0);
    assert.equal(metric(text, 'hooksync_inbox_oldest_age_seconds', { integration: i.id }), 0);
    // Each woken shard's details say what its last apply did and that its inbox is empty now.
    for (let s = 0; s < shards; s++) {
      const details = await currentDetails(stack.temporal.client.workflow.getHandle(ingestWorkflowId(i.id, s))).catch(() => undefined);
      if (details === undefined) continue;
      assert.match(details, /Last batch: upsert \d+ events?: \d+ applied, \d+ older discarded/);
      assert.match(details, /Inbox: empty \(at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)/);
    }
  });

  test('an event the upsert cannot apply goes to the dead letters with its error, counted in info and /metrics; retry-failed applies it again', async () => {
    const i = await integration();
    // A rule of the user's on their table, which one event breaks.
    await stack.pool.query(`ALTER TABLE ${i.table} ADD CONSTRAINT refuse_marked CHECK (name IS DISTINCT FROM 'Refused Person')`);
    const before = await scrape(stack.metricsUrl);
    await stack.stopWorker();
    const refused = customerEvent({ type: 'customer.created', id: 'cus_Refused1', created: T0, email: `refused.${RUN}@example.com`, name: 'Refused Person' });
    personal.add(refused.data.object.email);
    try {
      // In one shard, applied together: one statement fails, the others still land.
      const [bad, ...good] = keysInShard(`Dead${RUN}x`, 0, shards, 5);
      refused.data.object.id = bad;
      await send(i, refused);
      for (const id of good) await send(i, event({ type: 'customer.created', id, created: T0 }));
    } finally {
      await stack.startWorker();
    }
    const info = await waitFor(async () => {
      const x = await integrationInfo(stack.deps, i.id);
      return x.dead_letters === 1 && x.inbox_waiting === 0 && x;
    }, { what: 'the dead letter' });
    assert.equal(await count(i), 4, 'the other four applied');
    assert.match(info.last_dead_letter_error!, /^23514: .*violates check constraint "refuse_marked"/);
    assert.ok(info.last_dead_letter_at);
    const { rows } = await stack.pool.query('SELECT remote_key, body FROM ingest_dead_letters WHERE integration_id = $1', [i.id]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].remote_key, refused.data.object.id);
    assert.deepEqual(JSON.parse(rows[0].body), refused, 'the event is kept whole');
    const text = await scrape(stack.metricsUrl);
    assert.equal(metric(text, 'hooksync_dead_letters', { integration: i.id }), 1);
    // The worker runs in this process: its counter is on the same page.
    await waitFor(async () => {
      const now = await scrape(stack.metricsUrl);
      return metric(now, 'hooksync_events_applied_total', { outcome: 'dead_lettered' }) - metric(before, 'hooksync_events_applied_total', { outcome: 'dead_lettered' }) === 1;
    }, { what: 'the dead letter counted in /metrics' });
    const details = await waitFor(async () => {
      const d = await currentDetails(stack.temporal.client.workflow.getHandle(ingestWorkflowId(i.id, 0)));
      return /to the dead letters/.test(d) && d;
    }, { what: 'the apply in the details' });
    assert.match(details, /Last batch: upsert 5 events: 4 applied, 0 older discarded, 1 to the dead letters/);
    assert.equal(detailsTotals(details)!.deadLettered, 1);

    // Retried while the rule still holds: refused again, kept again.
    const again = await retryFailed(stack.deps, i.id, { waitMs: 30_000 });
    assert.deepEqual(again, { id: i.id, requeued: 1, done: 0, failed_again: 1, waiting: 0, woken: true });
    // The rule fixed: applied.
    await stack.pool.query(`ALTER TABLE ${i.table} DROP CONSTRAINT refuse_marked`);
    const fixed = await retryFailed(stack.deps, i.id, { waitMs: 30_000 });
    assert.deepEqual(fixed, { id: i.id, requeued: 1, done: 1, failed_again: 0, waiting: 0, woken: true });
    const row = await rowOf(stack.pool, i.table, refused.data.object.id);
    assert.equal(row.name, 'Refused Person');
    assert.deepEqual(row.data, refused.data.object);
    assert.equal((await integrationInfo(stack.deps, i.id)).dead_letters, 0);
    assert.deepEqual(await retryFailed(stack.deps, i.id), { id: i.id, requeued: 0, done: 0, failed_again: 0, waiting: 0, woken: true });
  });

  test('Temporal away and back: the API accepts into the inbox, retries its wake-ups, and the events are applied', async () => {
    const i = await integration();
    const proxy = await tcpProxy(stack.config.TEMPORAL_ADDRESS);
    const api = await startStack({ env: { TEMPORAL_ADDRESS: proxy.address, HOOKSYNC_TASK_QUEUE: stack.config.HOOKSYNC_TASK_QUEUE }, worker: false });
    try {
      await proxy.down();
      for (let n = 0; n < 5; n++) await send(i, event({ type: 'customer.created', id: `cus_Away${n}`, created: T0 + n }), api.apiUrl);
      assert.equal((await inboxRows(stack.pool, i.id)).length + (await count(i)), 5, 'every accepted event is in the inbox (or applied)');
      await waitFor(async () => metric(await scrape(api.metricsUrl), 'hooksync_ingest_wakeups_total', { outcome: 'failed' }) >= 1, { what: 'a failed wake-up' });
      await proxy.up();
      await waitFor(async () => (await count(i)) === 5, { what: 'the 5 events applied', timeoutMs: 60_000 });
      // The API's own retries got through once Temporal was back (the worker's sweep may have been first).
      await waitFor(async () => metric(await scrape(api.metricsUrl), 'hooksync_ingest_wakeups_total', { outcome: 'sent' }) >= 1, { what: 'a wake-up delivered', timeoutMs: 60_000 });
    } finally {
      await api.close();
      await proxy.close();
    }
  });

  test('on-insert targets are woken by a rowsChanged signal after an apply, and receive the rows', async () => {
    const i = await integration();
    const target = await createTarget(stack.deps, i.id, { url: receiver.url, periodSeconds: 3600, pageSize: 100, timeoutSeconds: 10, mode: 'on_insert' });
    targets.push(target.id);
    const handle = stack.temporal.client.workflow.getHandle(`httpsync-${target.id}`);
    // The drain a new target runs at once reads on for up to a second (rows it hears of need no
    // signal): wait until it has returned, so that the first apply has to wake the target.
    await waitFor(
      async () => {
        const d = await handle.describe();
        const drained = (await handle.fetchHistory()).events!.some((e) => e.activityTaskCompletedEventAttributes);
        return drained && (d.raw.pendingActivities?.length ?? 0) === 0;
      },
      { what: 'the first drain over', timeoutMs: 30_000 },
    );
    const before = await scrape(stack.metricsUrl);
    const ids = Array.from({ length: 12 }, (_, n) => `cus_OnInsert${n}`);
    for (const [n, id] of ids.entries()) {
      await send(i, event({ type: 'customer.created', id, created: T0 + n }));
      if (n % 3 === 2) await send(i, event({ type: 'customer.updated', id, created: T0 + n + 100 }));
    }
    // The signals: in the target's history, and counted (the worker runs in this process).
    await waitFor(async () => {
      const history = await handle.fetchHistory();
      return history.events!.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'rowsChanged');
    }, { what: 'a rowsChanged signal in the target\'s history' });
    const sent = metric(await scrape(stack.metricsUrl), 'hooksync_target_signals_total', { outcome: 'sent' }) - metric(before, 'hooksync_target_signals_total', { outcome: 'sent' });
    assert.ok(sent >= 1 && sent <= 16, `${sent} signals for 16 events: one per apply that changed rows, not one per row`);
    // Rows of transactions still open anywhere in this (shared) cluster are held back from a page
    // until those end; the target looks again by itself, so no trigger here.
    await waitFor(async () => ids.every((id) => receiver.state('stripe_id').has(id)), { what: 'the rows at the receiver', timeoutMs: 90_000 });
  });

  test('Temporal holds no customer data: no email, name or phone in the raw history of any run of any ingest or target workflow', async () => {
    assert.ok(created.length >= 5 && personal.size > 100, `${created.length} integrations, ${personal.size} personal values`);
    const client: Client = stack.temporal.client;
    const runs: Array<{ workflowId: string; runId: string }> = [];
    for (const i of created) {
      // Visibility follows a moment behind: wait until every shard's workflow that took events is listed.
      const found = await waitFor(async () => {
        const list = [];
        for await (const wf of client.workflow.list({ query: `HooksyncIntegrationId='${i.id}'` })) list.push(wf);
        const ids = new Set(list.map((w) => w.workflowId));
        const woken = await Promise.all(
          Array.from({ length: shards }, async (_, s) => (await client.workflow.getHandle(ingestWorkflowId(i.id, s)).describe().then(() => true, () => false)) && ingestWorkflowId(i.id, s)),
        );
        return woken.every((id) => !id || ids.has(id)) && list;
      }, { what: `the workflows of ${i.id}` });
      runs.push(...found.map((w) => ({ workflowId: w.workflowId, runId: w.runId })));
    }
    for (const t of targets) assert.ok(runs.some((r) => r.workflowId === `httpsync-${t}`), `the target ${t} is among them`);
    let bytes = 0;
    for (const r of runs) {
      const handle = client.workflow.getHandle(r.workflowId, r.runId);
      const history = await handle.fetchHistory();
      const raw = historyText(history);
      bytes += raw.length;
      // The payloads were read: the workflow's input names its integration or target.
      assert.match(raw, /"(integrationId|targetId)":"(svi|hst)_/, `${r.workflowId}: payloads decoded`);
      assert.match(raw, r.workflowId.startsWith('ingest-') ? /"wake"|wake/ : /rowsChanged|deliverPages/, `${r.workflowId}: its events are read`);
      const details = await currentDetails(handle).catch(() => '');
      for (const secret of personal) {
        assert.ok(!raw.includes(secret), `${r.workflowId} (run ${r.runId}) holds ${secret} in its history`);
        assert.ok(!details.includes(secret), `${r.workflowId} shows ${secret} in its details`);
      }
    }
    console.error(`[ingest] ${runs.length} runs, ${Math.round(bytes / 1024)} KB of history, none with any of ${personal.size} personal values`);
  });
});

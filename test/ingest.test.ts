import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { shardOf } from '../src/api/inbox-writer';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { integrationIdKey } from '../src/temporal/client';
import { ingestWorkflowId } from '../src/contract/names';
import { wakeSignal } from '../src/contract/messages';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  currentDetails,
  detailsTotals,
  fastPoster,
  inParallel,
  keysInShard,
  rowOf,
  rowsByKey,
  inboxRows,
  shuffle,
} from './support/ingest';
import { signalWaiting } from './support/runs';
import { customerEvent, postEvent, type CustomerEventInput } from './support/stripe';

// The ingest half against the real Temporal and PostgreSQL: Stripe events POSTed to the API end
// up as rows, by the upstream's own timestamp, whatever their order or how often they arrive.

const SECRET = 'whsec_' + 'ingest'.repeat(6);
/** Upstream times (event `created`, epoch seconds); any fixed past instant will do. */
const T0 = 1_700_000_000;

describe('ingest: webhooks into rows', () => {
  let stack: Stack;
  let main: IntegrationView;
  let shards: number;

  before(async () => {
    stack = await startStack();
    shards = stack.config.HOOKSYNC_INGEST_SHARDS;
    main = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  const send = async (integration: IntegrationView, input: CustomerEventInput | Record<string, any>) => {
    const event = 'object' in input && input.object === 'event' ? input : customerEvent(input as CustomerEventInput);
    const res = await postEvent(stack.apiUrl, integration.id, event, SECRET);
    assert.equal(res.status, 200, `POST ${event.type} ${event.data.object.id}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.deepEqual(res.body, { received: true });
    return event;
  };

  const waitForRow = (integration: IntegrationView, key: string, ok: (row: any) => boolean = () => true, what = `the row of ${key}`) =>
    waitFor(async () => {
      const row = await rowOf(stack.pool, integration.table, key);
      return row && ok(row) ? row : undefined;
    }, { what });

  /**
   * Waits until everything sent before it to `key`'s shard has been processed: one shard's events
   * are signalled in order and applied in order, so once a later event for a fresh key in the same
   * shard is in its table, the earlier ones have been applied or discarded.
   */
  let barriers = 0;
  const barrier = async (integration: IntegrationView, key: string) => {
    const [fresh] = keysInShard(`Barrier${barriers++}x`, shardOf(key, shards), shards, 1);
    await send(integration, { type: 'customer.created', id: fresh!, created: T0 });
    await waitForRow(integration, fresh!);
  };

  test('customer.created becomes a row with the columns of the resource and change-tracking stamps', async () => {
    const event = await send(main, {
      type: 'customer.created',
      id: 'cus_Created1',
      created: T0 + 10,
      customerCreated: T0 + 5,
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      phone: '+15555550100',
      balance: -1250,
      metadata: { plan: 'gold' },
    });
    const row = await waitForRow(main, 'cus_Created1');
    assert.equal(row.stripe_id, 'cus_Created1');
    assert.equal(row.balance, '-1250'); // bigint
    assert.equal(row.created.toISOString(), new Date((T0 + 5) * 1000).toISOString());
    assert.equal(row.email, 'ada@example.com');
    assert.equal(row.name, 'Ada Lovelace');
    assert.equal(row.phone, '+15555550100');
    assert.equal(row.updated.toISOString(), new Date((T0 + 10) * 1000).toISOString(), 'updated is the event\'s created');
    assert.equal(row.deleted, false);
    assert.deepEqual(row.data, event.data.object, 'data is the whole customer object');
    assert.match(row._txid, /^\d+$/);
    assert.match(row._seq, /^\d+$/);
  });

  test('a newer customer.updated replaces the row and re-stamps it', async () => {
    await send(main, { type: 'customer.created', id: 'cus_Updated1', created: T0 + 100, email: 'old@example.com', name: 'Old' });
    const before = await waitForRow(main, 'cus_Updated1');
    const event = await send(main, {
      type: 'customer.updated',
      id: 'cus_Updated1',
      created: T0 + 200,
      customerCreated: T0 + 100,
      email: 'new@example.com',
      name: 'New',
      previousAttributes: { email: 'old@example.com', name: 'Old' },
    });
    const row = await waitForRow(main, 'cus_Updated1', (r) => r.email === 'new@example.com', 'the updated row');
    assert.equal(row.name, 'New');
    assert.equal(row.updated.getTime(), (T0 + 200) * 1000);
    assert.deepEqual(row.data, event.data.object);
    assert.equal(row.pk, before.pk, 'the same row, updated in place');
    assert.ok(BigInt(row._seq) > BigInt(before._seq), `re-stamped: _seq ${before._seq} → ${row._seq}`);
    assert.ok(BigInt(row._txid) > BigInt(before._txid), `re-stamped: _txid ${before._txid} → ${row._txid}`);
  });

  test('out of order: an event older than the stored row is discarded and leaves the row untouched', async () => {
    const newest = await send(main, { type: 'customer.updated', id: 'cus_Order1', created: T0 + 300, email: 'v3@example.com' });
    const stored = await waitForRow(main, 'cus_Order1');
    // Older versions arriving late, created and updated, each strictly older than the stored one.
    await send(main, { type: 'customer.updated', id: 'cus_Order1', created: T0 + 200, email: 'v2@example.com' });
    await send(main, { type: 'customer.created', id: 'cus_Order1', created: T0 + 100, email: 'v1@example.com' });
    await barrier(main, 'cus_Order1');
    const row = await rowOf(stack.pool, main.table, 'cus_Order1');
    assert.deepEqual(row, stored, 'every column, _txid and _seq included, is unchanged');
    assert.equal(row.email, 'v3@example.com');
    assert.deepEqual(row.data, newest.data.object);
  });

  test('a redelivered event changes nothing: the row is not re-stamped, so it is not delivered again', async () => {
    const first = customerEvent({ type: 'customer.created', id: 'cus_Dup1', created: T0 + 100, email: 'dup1@example.com' });
    const second = customerEvent({ type: 'customer.updated', id: 'cus_Dup1', created: T0 + 200, email: 'dup2@example.com' });
    await send(main, first);
    await send(main, second);
    const stored = await waitForRow(main, 'cus_Dup1', (r) => r.email === 'dup2@example.com', 'the second version');
    // Stripe redelivers the very same event (same id, same bytes, a fresh signature), several times.
    for (let i = 0; i < 3; i++) await send(main, second);
    await send(main, first);
    await barrier(main, 'cus_Dup1');
    const row = await rowOf(stack.pool, main.table, 'cus_Dup1');
    assert.deepEqual(row, stored, 'not re-stamped: same _txid, _seq and _changed_at');
    const { rows } = await stack.pool.query(`SELECT count(*)::int AS n FROM ${main.table} WHERE stripe_id = 'cus_Dup1'`);
    assert.equal(rows[0].n, 1);
  });

  test('same upstream second: a different version wins (the later arrival), the same one changes nothing', async () => {
    await send(main, { type: 'customer.created', id: 'cus_Tie1', created: T0 + 100, email: 'tie-a@example.com' });
    const a = await waitForRow(main, 'cus_Tie1');
    const second = await send(main, { type: 'customer.updated', id: 'cus_Tie1', created: T0 + 100, email: 'tie-b@example.com' });
    const b = await waitForRow(main, 'cus_Tie1', (r) => r.email === 'tie-b@example.com', 'the later version of the same second');
    assert.ok(BigInt(b._seq) > BigInt(a._seq));
    await send(main, second);
    await barrier(main, 'cus_Tie1');
    assert.deepEqual(await rowOf(stack.pool, main.table, 'cus_Tie1'), b);
  });

  test('customer.deleted keeps the row, marked deleted = true; older events do not bring it back', async () => {
    await send(main, { type: 'customer.created', id: 'cus_Del1', created: T0 + 100, email: 'del@example.com', name: 'To Delete' });
    const created = await waitForRow(main, 'cus_Del1');
    assert.equal(created.deleted, false);
    const deletion = await send(main, { type: 'customer.deleted', id: 'cus_Del1', created: T0 + 300, email: 'del@example.com', name: 'To Delete' });
    const deleted = await waitForRow(main, 'cus_Del1', (r) => r.deleted === true, 'the deleted row');
    assert.equal(deleted.pk, created.pk);
    assert.equal(deleted.updated.getTime(), (T0 + 300) * 1000);
    assert.equal(deleted.email, 'del@example.com');
    assert.deepEqual(deleted.data, deletion.data.object);
    assert.ok(BigInt(deleted._seq) > BigInt(created._seq), 'a deletion is a change: re-stamped');

    // A late update from before the deletion, and the deletion redelivered: nothing changes.
    await send(main, { type: 'customer.updated', id: 'cus_Del1', created: T0 + 200, email: 'resurrected@example.com' });
    await send(main, deletion);
    await barrier(main, 'cus_Del1');
    assert.deepEqual(await rowOf(stack.pool, main.table, 'cus_Del1'), deleted);

    // A customer whose first event is its deletion still gets its row.
    await send(main, { type: 'customer.deleted', id: 'cus_Del2', created: T0 + 50, email: 'gone@example.com' });
    const gone = await waitForRow(main, 'cus_Del2');
    assert.equal(gone.deleted, true);
    assert.equal(gone.email, 'gone@example.com');
  });

  // Integration used by the two tests below: a fresh one, so its ingest workflows hold only these events.
  let paused: IntegrationView;
  let firstApplies: number;

  test('events accepted while the worker is stopped are durable in the inbox at 2xx and all applied once it starts again', async () => {
    paused = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    const shard0 = keysInShard('Stop', 0, shards, 37);
    const [older1, older2] = shard0;
    // Two rows stored first, in their own batch, while the worker runs.
    await send(paused, { type: 'customer.created', id: older1!, created: T0 + 100, email: 'kept1@example.com' });
    await send(paused, { type: 'customer.created', id: older2!, created: T0 + 100, email: 'kept2@example.com' });
    const kept1 = await waitForRow(paused, older1!);
    const kept2 = await waitForRow(paused, older2!);
    const handle0 = stack.temporal.client.workflow.getHandle(ingestWorkflowId(paused.id, 0));
    // Their batch is complete in Temporal (queries wait for a workflow task in flight).
    const first = await waitFor(async () => {
      const t = detailsTotals(await currentDetails(handle0));
      return t?.applied === 2 && t;
    }, { what: 'the first batch recorded' });
    firstApplies = first.applies;

    await stack.stopWorker();
    let restarted = false;
    try {
      // 35 new customers and 2 older versions of the stored ones, all in shard 0; and 5 new customers in each other shard.
      const events = [
        ...shard0.slice(2).map((id) => customerEvent({ type: 'customer.created', id, created: T0 + 200, email: `${id}@example.com` })),
        customerEvent({ type: 'customer.updated', id: older1!, created: T0 + 50, email: 'older1@example.com' }),
        customerEvent({ type: 'customer.updated', id: older2!, created: T0 + 50, email: 'older2@example.com' }),
      ];
      for (let shard = 1; shard < shards; shard++) {
        for (const id of keysInShard(`Stop${shard}s`, shard, shards, 5)) {
          events.push(customerEvent({ type: 'customer.created', id, created: T0 + 200, email: `${id}@example.com` }));
        }
      }
      await inParallel(shuffle(events, 7), 8, (e) => send(paused, e));

      // 2xx means durable: every event is already in the inbox, in its shard, with no worker running.
      const waiting = new Set((await inboxRows(stack.pool, paused.id)).map((r) => `${r.key}@${r.ts}@${r.shard}`));
      for (const e of events) {
        const key = e.data.object.id as string;
        assert.ok(waiting.has(`${key}@${e.created * 1000}@${shardOf(key, shards)}`), `${key} is in the inbox, in its shard`);
      }
      assert.equal(waiting.size, events.length);

      // The wake-up reached shard 0's workflow and waits there for a worker: only then does
      // "nothing applied" say something.
      await waitFor(() => signalWaiting(handle0, wakeSignal.name), { what: 'the wake-up waiting in shard 0\'s history' });
      const whileStopped = await rowsByKey(stack.pool, paused.table);
      assert.deepEqual([...whileStopped.keys()].sort(), [older1, older2].sort(), 'nothing is applied without a worker');

      await stack.startWorker();
      restarted = true;
      const expected = events.length; // 2 stored + 35 and 5 per other shard new; the 2 older ones add none
      const rows = await waitFor(async () => {
        const all = await rowsByKey(stack.pool, paused.table);
        return all.size === expected ? all : undefined;
      }, { what: `${expected} rows after the restart` });
      for (const e of events) {
        const row = rows.get(e.data.object.id);
        assert.ok(row, `${e.data.object.id} applied`);
        if (e.type === 'customer.created') assert.deepEqual(row.data, e.data.object);
      }
      assert.deepEqual(rows.get(older1!), kept1, 'the older version was discarded');
      assert.deepEqual(rows.get(older2!), kept2, 'the older version was discarded');
    } finally {
      if (!restarted) await stack.startWorker();
    }
  });

  test('the ingest workflow names its integration and shard, describes its last batch and carries HooksyncIntegrationId', async () => {
    assert.ok(paused, 'needs the integration of the previous test');
    const handle = stack.temporal.client.workflow.getHandle(ingestWorkflowId(paused.id, 0));
    // With the worker stopped, the 37 events gathered in the inbox and were applied by one statement.
    const details = await waitFor(async () => {
      const d = await currentDetails(handle);
      return detailsTotals(d)?.taken === 39 && d;
    }, { what: 'the details after the second apply' });
    assert.match(details, /Last batch: upsert 37 events: 35 applied, 2 older discarded$/m);
    assert.ok(details.includes(paused.id) && details.includes(`shard 1 of ${shards}`), details);
    assert.match(details, /Inbox: empty/);
    const { applies, wakeUps, ...counts } = detailsTotals(details)!;
    assert.deepEqual(counts, { taken: 39, applied: 37, discarded: 2, deadLettered: 0 });
    // One apply took them all (another may have found the inbox empty, after a sweep's wake-up).
    assert.ok(applies >= firstApplies + 1 && applies <= firstApplies + 2, `applies ${firstApplies} → ${applies}`);
    assert.ok(wakeUps >= 1, 'woken');

    const description = await handle.describe();
    assert.equal(description.status.name, 'RUNNING');
    assert.equal(description.type, 'ingestWorkflow');
    assert.equal(description.taskQueue, stack.config.HOOKSYNC_TASK_QUEUE);
    const summary = await description.staticSummary();
    assert.ok(summary, 'the workflow has a summary');
    assert.ok(summary.includes(paused.id), `the summary names the integration: ${summary}`);
    assert.ok(summary.includes('stripe_customer_v1'), `the summary names the service: ${summary}`);
    assert.ok(summary.includes(`shard 1 of ${shards}`), summary);
    assert.equal(description.typedSearchAttributes.get(integrationIdKey), paused.id);

    const last = shards - 1;
    const other = await stack.temporal.client.workflow.getHandle(ingestWorkflowId(paused.id, last)).describe();
    assert.ok((await other.staticSummary())?.includes(`shard ${last + 1} of ${shards}`));

    // Every shard carries HooksyncIntegrationId (read by describe, which is strongly consistent;
    // the visibility list that operators filter on it lags behind on a loaded machine).
    for (let s = 0; s < shards; s++) {
      const d = await stack.temporal.client.workflow.getHandle(ingestWorkflowId(paused.id, s)).describe();
      assert.equal(d.typedSearchAttributes.get(integrationIdKey), paused.id, `shard ${s}`);
    }
  });

  test('2,000 concurrent events for 50 customers, in shuffled order, end in exactly each customer\'s newest version', async () => {
    const integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    const CUSTOMERS = 50;
    const VERSIONS = 40;
    const events: Record<string, any>[] = [];
    const newest = new Map<string, Record<string, any>>();
    for (let c = 0; c < CUSTOMERS; c++) {
      const id = `cus_Load${String(c).padStart(3, '0')}`;
      for (let v = 0; v < VERSIONS; v++) {
        // Distinct upstream timestamps per customer; every fifth customer ends deleted.
        const type = v === 0 ? 'customer.created' : v === VERSIONS - 1 && c % 5 === 0 ? 'customer.deleted' : 'customer.updated';
        const event = customerEvent({
          type,
          id,
          created: T0 + v * 60 + c,
          customerCreated: T0 + c,
          email: `${id}.v${v}@example.com`,
          name: `Customer ${c} v${v}`,
          balance: v * 100 - c,
          metadata: { version: String(v) },
        });
        events.push(event);
        if (v === VERSIONS - 1) newest.set(id, event);
      }
    }
    const order = shuffle(events, 2024);
    const poster = fastPoster(stack.apiUrl, 64);
    const started = Date.now();
    const statuses = await inParallel(order, 64, async (e) => (await poster.post(integration.id, e, SECRET)).status).finally(() => poster.close());
    const postMs = Date.now() - started;
    const bad = statuses.filter((s) => s < 200 || s > 299);
    assert.equal(bad.length, 0, `all 2xx; got ${bad.length} others: ${[...new Set(bad)].join(', ')}`);

    // Every event taken from the inbox exactly once by the ingest workflows, and each one applied or discarded.
    const handles = Array.from({ length: shards }, (_, s) => stack.temporal.client.workflow.getHandle(ingestWorkflowId(integration.id, s)));
    const totals = await waitFor(async () => {
      const all = await Promise.all(handles.map(async (h) => detailsTotals(await currentDetails(h).catch(() => ''))));
      if (all.some((t) => !t)) return undefined;
      const sum = all.reduce((a, t) => ({
        taken: a.taken + t!.taken,
        processed: a.processed + t!.applied + t!.discarded + t!.deadLettered,
        applied: a.applied + t!.applied,
        deadLettered: a.deadLettered + t!.deadLettered,
      }), { taken: 0, processed: 0, applied: 0, deadLettered: 0 });
      return sum.processed === events.length && sum;
    }, { timeoutMs: 30_000, what: 'all 2,000 events processed' });
    assert.equal(totals.taken, events.length);
    assert.equal(totals.deadLettered, 0);
    assert.deepEqual(await inboxRows(stack.pool, integration.id), [], 'the inbox is empty');
    assert.ok(totals.applied >= CUSTOMERS, `at least one applied per customer (${totals.applied})`);

    const rows = await rowsByKey(stack.pool, integration.table);
    assert.equal(rows.size, CUSTOMERS);
    for (const [id, event] of newest) {
      const row = rows.get(id);
      assert.ok(row, id);
      assert.equal(row.updated.getTime(), event.created * 1000, `${id}: the newest version's time`);
      assert.equal(row.email, event.data.object.email);
      assert.equal(row.name, event.data.object.name);
      assert.equal(row.balance, String(event.data.object.balance));
      assert.equal(row.deleted, event.type === 'customer.deleted', `${id}: deleted`);
      assert.deepEqual(row.data, event.data.object, `${id}: the newest version's data`);
    }
    console.error(`[ingest] 2,000 events POSTed in ${postMs} ms (${Math.round(events.length / (postMs / 1000))}/s), all applied ${Date.now() - started} ms after the first`);
  });
});

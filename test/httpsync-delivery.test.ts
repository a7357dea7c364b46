import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { triggerTarget } from '../src/services/target-signals';
import { updateTarget } from '../src/services/targets';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  sleep,
  syncPages,
  tableVersions,
  targetStatus,
  updateCustomers,
  waitForConvergence,
  WEBHOOK_SECRET,
} from './support/httpsync';
import { type Receiver, receiverSet } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

// Guarantees 2 (payload and headers), 3 (never two POSTs of one target at once),
// 4 (every committed change is delivered) and 5 (a row's versions arrive in order).
describe('HTTP Sync delivery', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  test('a page has exactly the contract keys, the table\'s rows as JSON, Basic Auth and a page id; the URL has no user info', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver({ user: 'payload-user', password: 'payload-Pw-91x' });
    const now = Math.floor(Date.now() / 1000);
    const events = [1, 2, 3].map((i) =>
      customerEvent({ type: 'customer.created', id: `cus_Payload${i}`, created: now - 10 + i, email: `p${i}@example.com`, name: `Payload ${i}`, balance: i * 100, metadata: { n: String(i) } }),
    );
    for (const e of events) assert.equal((await postEvent(stack.apiUrl, integration.id, e, WEBHOOK_SECRET)).status, 200);
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 3, { what: 'the 3 rows' });

    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600 });
    await waitFor(async () => acceptedPages(rcv).length === 1, { what: 'the first page' });
    const page = acceptedPages(rcv)[0]!;

    assert.deepEqual(Object.keys(page.body).sort(), ['integration_id', 'integration_service', 'rows', 'sync_timestamp', 'table']);
    assert.equal(page.body.integration_id, integration.id);
    assert.equal(page.body.integration_service, 'stripe_customer_v1');
    assert.equal(page.body.table, integration.table);
    const syncedAt = Date.parse(page.body.sync_timestamp);
    assert.match(page.body.sync_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    assert.ok(Math.abs(syncedAt - page.at) < 60_000, 'sync_timestamp is the time of the sync');

    // The rows are the table's rows (without the change-tracking columns), in change order.
    const { rows: tableRows } = await stack.pool.query(
      `SELECT to_jsonb(t) - '_txid' - '_seq' - '_changed_at' - '_precedence' AS row FROM ${integration.table} t ORDER BY _txid, _seq`,
    );
    assert.deepEqual(page.body.rows, tableRows.map((r) => r.row));
    assert.deepEqual(page.body.rows.map((r: any) => r.stripe_id).sort(), ['cus_Payload1', 'cus_Payload2', 'cus_Payload3']);
    for (const row of page.body.rows) {
      const i = events.findIndex((e) => e.data.object.id === row.stripe_id);
      assert.deepEqual(row.data, events[i]!.data.object, 'data is the whole upstream object');
      assert.equal(Date.parse(row.updated), events[i]!.created * 1000);
      assert.equal(row.email, events[i]!.data.object.email);
      assert.equal(row.balance, events[i]!.data.object.balance);
      assert.equal(row.deleted, false);
    }

    // Transport: Basic Auth from the URL's user info, a URL without it, JSON, and a page id.
    assert.equal(page.authorized, true);
    assert.equal(page.headers.authorization, 'Basic ' + Buffer.from('payload-user:payload-Pw-91x').toString('base64'));
    assert.equal(page.url, '/sync');
    assert.equal(page.headers.host, new URL(rcv.endpoint).host);
    assert.ok(!JSON.stringify(page.headers).includes('payload-Pw-91x'));
    assert.match(String(page.headers['content-type']), /^application\/json/);
    assert.ok(page.pageId && page.pageId.startsWith(`${target.id}:`), `page id ${page.pageId}`);
    assert.equal(page.headers['hooksync-target-id'], target.id);

    // A deleted upstream resource arrives as a row marked deleted, with its own page id.
    const del = customerEvent({ type: 'customer.deleted', id: 'cus_Payload2', created: now + 5, email: 'p2@example.com' });
    assert.equal((await postEvent(stack.apiUrl, integration.id, del, WEBHOOK_SECRET)).status, 200);
    await waitFor(async () => (await stack.pool.query(`SELECT deleted FROM ${integration.table} WHERE stripe_id = 'cus_Payload2'`)).rows[0].deleted, {
      what: 'the deletion in the table',
    });
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => acceptedPages(rcv).length === 2, { what: 'the second page' });
    const second = acceptedPages(rcv)[1]!;
    assert.deepEqual(second.body.rows.map((r: any) => [r.stripe_id, r.deleted]), [['cus_Payload2', true]]);
    assert.notEqual(second.pageId, page.pageId);
  });

  test('the receiver never sees two POSTs of one target at once: slow answers, triggers, failures and updates during delivery', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_conc', 150));
    let n = 0;
    // Slow answers, and now and then a failure (retried: a trigger retries at once).
    rcv.respondWith(() => (++n % 9 === 0 ? { status: 500, delayMs: 50 } : { status: 200, delayMs: 40 + Math.floor(Math.random() * 200) }));
    const target = await newTarget(stack, integration.id, rcv, { pageSize: 4, periodSeconds: 1 });

    let stop = false;
    const triggers = (async () => {
      let sent = 0;
      while (!stop) {
        // Several triggers at once, from the service layer and straight through Temporal.
        await Promise.all([triggerTarget(stack.deps, target.id), triggerTarget(stack.deps, target.id)]).catch(() => {});
        if (++sent % 20 === 0) await updateTarget(stack.deps, target.id, { pageSize: 3 + (sent % 4) });
        // Paces the triggers; what is asserted holds for any pace.
        await sleep(25);
      }
    })();
    const writes = (async () => {
      for (let i = 0; i < 10 && !stop; i++) {
        await insertCustomers(stack.pool, integration.table, keysOf(`cus_conc_w${i}_`, 5));
        await updateCustomers(stack.pool, integration.table, keysOf('cus_conc', 10, i * 10));
        // Spreads the writes over the deliveries; what is asserted holds for any spacing.
        await sleep(300);
      }
    })();
    try {
      await writes;
      await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 90_000 });
    } finally {
      stop = true;
      await triggers;
    }
    assert.ok(syncPages(rcv).length > 40, `${syncPages(rcv).length} POSTs`);
    assert.ok(syncPages(rcv).some((p) => p.status === 500), 'some POSTs failed and were retried');
    assert.equal(rcv.maxConcurrent, 1);
    assertVersionsInOrder(rcv);
  });

  test('concurrent slow transactions: the receiver ends with exactly the table, versions in order, nothing rolled back', async () => {
    const integration = await newIntegration(stack);
    const table = integration.table;
    const rcv = await receiver();
    rcv.respondWith(() => ({ status: 200, delayMs: Math.floor(Math.random() * 25) }));
    const shared = keysOf('cus_shared', 40);
    await insertCustomers(stack.pool, table, shared);
    const target = await newTarget(stack, integration.id, rcv, { pageSize: 7, periodSeconds: 1 });

    const writers = new pg.Pool({ connectionString: stack.config.DATABASE_URL, max: 8 });
    const rolledBack: string[] = [];
    const committed = { transactions: 0, inserts: 0, updates: 0, deadlocks: 0 };
    let stop = false;
    const pick = () => [...new Set(Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => shared[Math.floor(Math.random() * shared.length)]!))];
    const writer = async (w: number) => {
      let seq = 0;
      while (!stop) {
        const db = await writers.connect();
        const fresh = keysOf(`cus_w${w}_`, 1 + Math.floor(Math.random() * 4), seq);
        seq += fresh.length;
        const rollback = Math.random() < 0.1;
        try {
          await db.query('BEGIN');
          // A first write takes the transaction id early; the transaction then stays open for a
          // random few ms to ~200 ms and writes again before it commits.
          if (Math.random() < 0.5) await updateCustomers(db, table, pick());
          else await insertCustomers(db, table, fresh.slice(0, 1));
          await db.query('SELECT pg_sleep($1)', [(5 + Math.random() * 195) / 1000]);
          await insertCustomers(db, table, fresh.slice(1));
          await updateCustomers(db, table, pick());
          if (rollback) {
            await db.query('ROLLBACK');
            rolledBack.push(...fresh);
          } else {
            await db.query('COMMIT');
            committed.transactions++;
          }
        } catch (err) {
          await db.query('ROLLBACK').catch(() => {});
          rolledBack.push(...fresh);
          if ((err as { code?: string }).code === '40P01') committed.deadlocks++;
          else throw err;
        } finally {
          db.release();
        }
      }
    };
    let stopTriggers = false;
    const triggers = (async () => {
      while (!stopTriggers) {
        await triggerTarget(stack.deps, target.id).catch(() => {});
        // Paces the triggers; what is asserted holds for any pace.
        await sleep(150);
      }
    })();
    try {
      const running = Array.from({ length: 6 }, (_, w) => writer(w));
      // The writers go on until many transactions have committed and pages were delivered meanwhile,
      // however long that takes on a loaded machine (a fixed time could end before either).
      await Promise.race([
        waitFor(async () => committed.transactions >= 200 && acceptedPages(rcv).length > 10, {
          timeoutMs: 120_000,
          what: '200 transactions committed and 10 pages delivered while the writers run',
        }),
        Promise.all(running),
      ]);
      stop = true;
      await Promise.all(running);
      const pagesDuringWrites = acceptedPages(rcv).length;
      assert.ok(pagesDuringWrites > 10, `${pagesDuringWrites} pages delivered while the writers ran`);
      await waitForConvergence(stack, rcv, table, { timeoutMs: 60_000 });
    } finally {
      stop = true;
      stopTriggers = true;
      await triggers;
      await writers.end();
    }
    assert.ok(committed.transactions > 30, `${committed.transactions} transactions committed`);
    const want = await tableVersions(stack.pool, table);
    const got = new Map<string, any>();
    for (const page of acceptedPages(rcv)) for (const row of page.body.rows) got.set(row.stripe_id, row);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    // Whole rows, not only versions.
    const { rows } = await stack.pool.query(`SELECT to_jsonb(t) - '_txid' - '_seq' - '_changed_at' - '_precedence' AS row FROM ${table} t`);
    for (const { row } of rows) assert.deepEqual(got.get(row.stripe_id), row);
    for (const key of rolledBack) assert.ok(!got.has(key), `${key} was rolled back but delivered`);
    // Updated rows did change several times while being delivered.
    assert.ok(shared.some((k) => (want.get(k) ?? 0) > 3));
    const versionsChecked = assertVersionsInOrder(rcv, { strict: true });
    assert.ok(versionsChecked >= want.size);
    assert.equal(rcv.maxConcurrent, 1);
  });
  test('on insert, concurrent out-of-order webhooks: the receiver ends with the table, and per customer `updated` only goes up', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    rcv.respondWith(() => ({ status: 200, delayMs: Math.floor(Math.random() * 40) }));
    const target = await newTarget(stack, integration.id, rcv, { pageSize: 3, periodSeconds: 3600, mode: 'on_insert' });
    await waitFor(async () => (await targetStatus(stack, target.id)).state === 'waiting', { what: 'the first (empty) sync' });
    const base = Math.floor(Date.now() / 1000) - 1000;
    // 12 customers, 10 versions each, sent by 6 concurrent senders in shuffled order.
    const events = keysOf('cus_Wh', 12).flatMap((id) =>
      Array.from({ length: 10 }, (_, v) =>
        customerEvent({ type: v === 0 ? 'customer.created' : 'customer.updated', id, created: base + v * 10, email: `${id}-v${v}@example.com`, balance: v }),
      ),
    );
    events.sort(() => Math.random() - 0.5);
    const queue = [...events];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let e = queue.shift(); e; e = queue.shift()) {
          const res = await postEvent(stack.apiUrl, integration.id, e, WEBHOOK_SECRET);
          assert.equal(res.status, 200);
        }
      }),
    );
    // A 200 means the event is committed to PostgreSQL's inbox; the ingest workflow applies it a moment later.
    await waitFor(
      async () => {
        const { rows } = await stack.pool.query(`SELECT stripe_id, balance FROM ${integration.table}`);
        return rows.length === 12 && rows.every((r) => Number(r.balance) === 9);
      },
      { what: 'the table to hold each customer\'s newest version', timeoutMs: 30_000 },
    );
    await waitForConvergence(stack, rcv, integration.table, { timeoutMs: 30_000 });
    const last = new Map<string, number>();
    for (const page of acceptedPages(rcv)) {
      for (const row of page.body.rows) {
        const updated = Date.parse(row.updated);
        const before = last.get(row.stripe_id);
        assert.ok(before === undefined || updated > before, `${row.stripe_id}: ${row.updated} after a newer version`);
        last.set(row.stripe_id, updated);
      }
    }
    assert.equal(rcv.maxConcurrent, 1);
  });
});

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createIntegration, integrationInfo } from '../src/services/integrations';
import { ingestWorkflowId } from '../src/contract/names';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '../src/dev/embedded-postgres';
import { createDatabase } from './support/database';
import { startStack, waitFor, type Stack } from './support/harness';
import { ROOT } from './support/httpsync';
import { currentDetails, fastPoster, historyText, inboxRows, inParallel, rowsByKey, shuffle } from './support/ingest';
import { workflowRuns } from './support/runs';
import { customerEvent } from './support/stripe';

// Nothing acknowledged is lost while the integration's table is locked: the events wait in the
// inbox, the ingest workflows keep retrying (visibly) and continue as new within their history
// limit, and once the lock is gone every event answered 2xx is applied.

const SECRET = 'whsec_' + 'robust'.repeat(5);
const T0 = 1_720_000_000;
const LOCK_MS = 40_000;
const HISTORY_LIMIT = 50;

describe('ingest: the table locked for 40 s', { timeout: 400_000 }, () => {
  let stack: Stack;
  // A PostgreSQL cluster of its own: the transaction holding the lock has a transaction id for
  // its 40 s, and a delivery's cursor waits for every transaction older than a row in the whole
  // cluster (pg_snapshot_xmin), so in the shared one it would hold back the deliveries of every
  // file running beside this one.
  const WORK = path.join(ROOT, '.hooksync', `ingest-robustness-${process.pid}`);
  let postgres: EmbeddedPostgresServer | undefined;

  before(async () => {
    fs.rmSync(WORK, { recursive: true, force: true });
    postgres = await startEmbeddedPostgres({ dir: WORK, log: (msg) => process.stderr.write(`[ingest-robustness] ${msg}\n`) });
    const db = await createDatabase(postgres.url, 'hooksync_test');
    stack = await startStack({ env: { DATABASE_URL: db.url, HOOKSYNC_HISTORY_LIMIT: String(HISTORY_LIMIT) } });
  });
  after(async () => {
    await stack?.close();
    await postgres?.stop();
    if (postgres) fs.rmSync(postgres.dataDir, { recursive: true, force: true });
    fs.rmSync(WORK, { recursive: true, force: true });
  });

  test('3,000 events of about 2 KB arrive while the table is locked in ACCESS EXCLUSIVE mode: every 2xx is applied once the lock is gone, no ingest workflow terminated or failed', async () => {
    const integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    const shards = stack.config.HOOKSYNC_INGEST_SHARDS;
    const run = crypto.randomBytes(3).toString('hex');
    const CUSTOMERS = 1000;
    const events: Record<string, any>[] = [];
    const newest = new Map<string, Record<string, any>>();
    for (let c = 0; c < CUSTOMERS; c++) {
      const id = `cus_Locked${String(c).padStart(4, '0')}`;
      for (let v = 0; v < 3; v++) {
        const e = customerEvent({
          type: v === 0 ? 'customer.created' : c % 10 === 0 && v === 2 ? 'customer.deleted' : 'customer.updated',
          id,
          created: T0 + v * 100 + (c % 50),
          email: `locked.${run}.${c}.v${v}@example.com`,
          name: `Locked Customer ${run} ${c}`,
          description: `version ${v} `.padEnd(1200, '.'),
          metadata: { version: String(v), plan: 'pro', region: 'eu-west' },
        });
        events.push(e);
        if (v === 2) newest.set(id, e);
      }
    }
    const sizes = events.map((e) => JSON.stringify(e).length);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    assert.ok(mean > 1800 && mean < 2400, `events of about 2 KB (${Math.round(mean)} bytes)`);

    const locker = await stack.pool.connect();
    let locked = true;
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${integration.table} IN ACCESS EXCLUSIVE MODE`);
      const lockedAt = Date.now();

      // Spread over most of the lock: 16 senders, about 100 events per second.
      const poster = fastPoster(stack.apiUrl, 16);
      const order = shuffle(events, 40);
      const statuses = await inParallel(order, 16, async (e, n) => {
        const due = lockedAt + n * 10;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        return (await poster.post(integration.id, e, SECRET)).status;
      }).finally(() => poster.close());
      const bad = statuses.filter((s) => s < 200 || s > 299);
      assert.equal(bad.length, 0, `every event answered 2xx; got ${bad.length} others: ${[...new Set(bad)].join(', ')}`);
      assert.ok(Date.now() - lockedAt < LOCK_MS, 'all sent while the table is locked');
      assert.equal((await inboxRows(stack.pool, integration.id)).length, events.length, 'all waiting in the inbox');

      // While it waits, the workflows say so: the inbox's depth and why they are retrying.
      const details = await waitFor(async () => {
        const all = await Promise.all(
          Array.from({ length: shards }, (_, s) => currentDetails(stack.temporal.client.workflow.getHandle(ingestWorkflowId(integration.id, s))).catch(() => '')),
        );
        return all.find((d) => /Inbox: [\d,]+ events waiting/.test(d) && /Retrying since .* after: .*55P03 \(lock not available\)/.test(d));
      }, { what: 'details showing the waiting inbox and the retries', timeoutMs: LOCK_MS, intervalMs: 500 });
      assert.match(details, /Inbox: [\d,]+ events waiting, the oldest \d+ s old/);
      const info = await integrationInfo(stack.deps, integration.id);
      assert.equal(info.inbox_waiting, events.length);

      await new Promise((r) => setTimeout(r, Math.max(0, lockedAt + LOCK_MS - Date.now())));
      await locker.query('COMMIT');
      locked = false;
      const released = Date.now();

      const rows = await waitFor(async () => {
        const all = await rowsByKey(stack.pool, integration.table);
        if (all.size !== CUSTOMERS) return false;
        for (const [id, e] of newest) if (all.get(id)?.updated.getTime() !== e.created * 1000) return false;
        return all;
      }, { what: 'every customer at its newest version', timeoutMs: 120_000, intervalMs: 500 });
      console.error(`[ingest] 3,000 events applied ${Date.now() - released} ms after the lock was released`);
      for (const [id, e] of newest) {
        const row = rows.get(id);
        assert.deepEqual(row.data, e.data.object, id);
        assert.equal(row.deleted, e.type === 'customer.deleted', id);
      }
    } finally {
      if (locked) await locker.query('ROLLBACK').catch(() => {});
      locker.release();
    }
    assert.deepEqual(await inboxRows(stack.pool, integration.id), [], 'the inbox is empty');
    assert.equal((await integrationInfo(stack.deps, integration.id)).dead_letters, 0);

    // Every run of every shard either still runs or continued as new: none terminated, failed or timed out.
    // Followed from the shards' known ids back through their histories (visibility lags behind).
    const ids = Array.from({ length: shards }, (_, s) => ingestWorkflowId(integration.id, s));
    const runs = await waitFor(async () => {
      const all = await Promise.all(ids.map(async (id) => (await workflowRuns(stack.temporal.client, id)).map((r) => ({ ...r, workflowId: id }))));
      return all.every((of) => of.at(-1)!.status === 'RUNNING') && all.flat();
    }, { what: 'every shard\'s newest run running' });
    const statuses = new Set(runs.map((r) => r.status));
    assert.deepEqual([...statuses].filter((s) => s !== 'RUNNING' && s !== 'CONTINUED_AS_NEW'), [], [...statuses].join(', '));
    // The limit holds for every run, also those that spent the lock retrying.
    let sample = '';
    const lengths: number[] = [];
    for (const r of runs) {
      const history = r.history;
      const length = history.events!.length;
      lengths.push(length);
      // A run checks its length between applies; one apply (at most 2 minutes) adds a bounded number of events.
      assert.ok(length < HISTORY_LIMIT + 150, `${r.workflowId} run ${r.runId}: ${length} history events`);
      sample = historyText(history);
      assert.match(sample, /"integrationId":"svi_/, 'payloads decoded');
      for (const e of events.slice(0, 300)) {
        assert.ok(!sample.includes(e.data.object.email) && !sample.includes(e.data.object.name), `customer data in ${r.workflowId}`);
      }
    }
    console.error(`[ingest] ${runs.length} runs of ${shards} ingest workflows, history lengths ${lengths.sort((a, b) => a - b).join(', ')}`);
  });
});

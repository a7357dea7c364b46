import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { integrationIdKey } from '../src/temporal/client';
import { ingestWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { recordIfAsked } from './support/histories';
import { currentDetails, detailsTotals, fastPoster, inboxRows, inParallel, rowsByKey, shuffle, workflowsOfIntegration } from './support/ingest';
import { customerEvent } from './support/stripe';

// HOOKSYNC_HISTORY_LIMIT makes the ingest workflows continue as new after a few wake-ups; events
// keep arriving from several senders throughout, and none may be lost across a roll-over (nor
// refused while a workflow is closing: the events are in the inbox, only the wake-up is retried).

const SECRET = 'whsec_' + 'rollover'.repeat(4);
const T0 = 1_700_000_000;
const HISTORY_LIMIT = 60;

describe('ingest: continue-as-new under a steady stream of events', () => {
  let stack: Stack;
  let integration: IntegrationView;

  before(async () => {
    stack = await startStack({ env: { HOOKSYNC_HISTORY_LIMIT: String(HISTORY_LIMIT) } });
    integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  test('the ingest workflows continue as new while events keep arriving, and every event\'s final state is in the table', async () => {
    assert.equal(stack.config.HOOKSYNC_HISTORY_LIMIT, HISTORY_LIMIT);
    const shards = stack.config.HOOKSYNC_INGEST_SHARDS;
    const CUSTOMERS = 64;
    const VERSIONS = 5;
    const events: Record<string, any>[] = [];
    const newest = new Map<string, Record<string, any>>();
    for (let c = 0; c < CUSTOMERS; c++) {
      const id = `cus_Roll${String(c).padStart(3, '0')}`;
      for (let v = 0; v < VERSIONS; v++) {
        const event = customerEvent({
          type: v === 0 ? 'customer.created' : 'customer.updated',
          id,
          created: T0 + v * 1000 + c,
          email: `${id}.v${v}@example.com`,
          metadata: { version: String(v) },
        });
        events.push(event);
        if (v === VERSIONS - 1) newest.set(id, event);
      }
    }
    // Eight senders, about 50 events per second: a steady stream, where most events find their
    // shard idle and wake it (a burst would mostly be taken by applies already running).
    const poster = fastPoster(stack.apiUrl, 8);
    const started = Date.now();
    const statuses = await inParallel(shuffle(events, 60), 8, async (e, n) => {
      const due = started + n * 20;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      return (await poster.post(integration.id, e, SECRET)).status;
    }).finally(() => poster.close());
    assert.deepEqual([...new Set(statuses)], [200]);
    const postMs = Date.now() - started;

    // Every customer ends at its newest version.
    await waitFor(async () => {
      const rows = await rowsByKey(stack.pool, integration.table);
      if (rows.size !== CUSTOMERS) return false;
      for (const [id, e] of newest) {
        const row = rows.get(id);
        if (row.updated.getTime() !== e.created * 1000) return false;
      }
      return true;
    }, { timeoutMs: 30_000, what: 'every customer at its newest version' });
    await recordIfAsked(stack.temporal.client, ingestWorkflowId(integration.id, 0), 'ingest-continue-as-new', { maxRuns: 2 });
    const rows = await rowsByKey(stack.pool, integration.table);
    for (const [id, e] of newest) {
      assert.deepEqual(rows.get(id).data, e.data.object, id);
      assert.equal(rows.get(id).email, e.data.object.email);
    }

    // More than one run per workflow: they continued as new, and the continued runs still carry
    // HooksyncIntegrationId (they are found by it).
    const runs = await waitFor(async () => {
      const all = await workflowsOfIntegration(stack.temporal.client, integration.id);
      return all.some((r) => r.status.name === 'CONTINUED_AS_NEW') && all.filter((r) => r.status.name === 'RUNNING').length === shards && all;
    }, { timeoutMs: 60_000, what: 'continued runs in visibility' }); // visibility lags behind on a loaded machine
    const byWorkflow = new Map<string, string[]>();
    for (const r of runs) byWorkflow.set(r.workflowId, [...(byWorkflow.get(r.workflowId) ?? []), r.status.name]);
    const continued = runs.filter((r) => r.status.name === 'CONTINUED_AS_NEW').length;
    console.error(`[ingest] ${events.length} events, ${runs.length} runs across ${byWorkflow.size} ingest workflows (${continued} continued as new); POSTed in ${postMs} ms`);
    assert.deepEqual([...byWorkflow.keys()].sort(), Array.from({ length: shards }, (_, s) => ingestWorkflowId(integration.id, s)).sort());
    assert.ok(runs.length > shards, `more runs (${runs.length}) than workflows (${shards})`);
    for (const [id, statuses] of byWorkflow) {
      assert.equal(statuses.filter((s) => s === 'RUNNING').length, 1, `${id}: one open run`);
      assert.ok(statuses.every((s) => s === 'RUNNING' || s === 'CONTINUED_AS_NEW'), `${id}: ${statuses.join(', ')}`);
    }

    for (let shard = 0; shard < shards; shard++) {
      const handle = stack.temporal.client.workflow.getHandle(ingestWorkflowId(integration.id, shard));
      // The limit reached the workflow through the API: it is in the current run's input.
      const history = await handle.fetchHistory();
      const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
      const input = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8'));
      assert.equal(input.historyLimit, HISTORY_LIMIT);
      assert.equal(input.integrationId, integration.id);
      // A continued run still carries the search attribute, and names its integration and shard in
      // its details from its start (a static summary is the first run's only: continue-as-new
      // cannot carry it), with the totals and last batch carried over.
      const description = await handle.describe();
      assert.equal(description.typedSearchAttributes.get(integrationIdKey), integration.id);
      const details = await currentDetails(handle);
      assert.ok(details.includes(integration.id) && details.includes(`shard ${shard + 1} of ${shards}`), `shard ${shard} details: ${details}`);
      assert.match(details, /Last batch: upsert \d+ events?: \d+ applied, \d+ older discarded/);
      // The first run has the summary naming them.
      const first = runs.filter((r) => r.workflowId === handle.workflowId).sort((a, b) => a.startTime.getTime() - b.startTime.getTime())[0]!;
      const firstSummary = await (await stack.temporal.client.workflow.getHandle(first.workflowId, first.runId).describe()).staticSummary();
      assert.ok(
        firstSummary?.includes(integration.id) && firstSummary.includes(`shard ${shard + 1} of ${shards}`),
        `shard ${shard} summary: ${firstSummary}`,
      );
    }

    // Nothing dropped, nothing doubled: the totals carried across the runs count every event taken
    // from the inbox once, applied or discarded; the inbox is empty.
    const totals = await waitFor(async () => {
      const all = await Promise.all(
        Array.from({ length: shards }, async (_, s) =>
          detailsTotals(await currentDetails(stack.temporal.client.workflow.getHandle(ingestWorkflowId(integration.id, s)))),
        ),
      );
      if (all.some((t) => !t)) return false;
      const taken = all.reduce((n, t) => n + t!.taken, 0);
      const processed = all.reduce((n, t) => n + t!.applied + t!.discarded + t!.deadLettered, 0);
      return taken === events.length && { taken, processed, deadLettered: all.reduce((n, t) => n + t!.deadLettered, 0) };
    }, { what: 'totals of every event' });
    assert.deepEqual(totals, { taken: events.length, processed: events.length, deadLettered: 0 });
    assert.deepEqual(await inboxRows(stack.pool, integration.id), []);
  });
});

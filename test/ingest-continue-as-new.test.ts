import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { integrationIdKey } from '../src/temporal/client';
import { ingestWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { recordIfAsked } from './support/histories';
import { currentDetails, detailsTotals, fastPoster, inboxRows, inParallel, keysInShard, rowsByKey, shuffle } from './support/ingest';
import { workflowRuns, type Run } from './support/runs';
import { customerEvent, postEvent } from './support/stripe';

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

    // More than one run per workflow: they continued as new. How many wake-ups the stream made depends on the machine's speed (the API spaces them by
    // load, none while an apply runs), so then waves of one event per shard follow, each applied
    // before the next: every wave adds an apply to every shard's history, until each shard has
    // continued as new. Each shard's runs are followed from its known workflow id back through
    // the histories (not found through visibility, which lags).
    const ids = Array.from({ length: shards }, (_, s) => ingestWorkflowId(integration.id, s));
    const runsOfAll = async () => new Map(await Promise.all(ids.map(async (id) => [id, await workflowRuns(stack.temporal.client, id)] as const)));
    const rolledOver = (all: Map<string, Run[]>) => [...all.values()].every((r) => r.length > 1 && r.at(-1)!.status === 'RUNNING');
    const waves: Record<string, any>[] = [];
    let byWorkflow = await runsOfAll();
    for (let wave = 0; !rolledOver(byWorkflow); wave++) {
      const seen = [...byWorkflow.values()].map((r) => r.map((run) => `${run.status}(${run.events})`).join(' → ')).join('; ');
      assert.ok(wave < 40, `no roll-over of every shard after ${wave} waves: ${seen}`);
      const sent = Array.from({ length: shards }, (_, s) =>
        customerEvent({ type: 'customer.created', id: keysInShard(`Wave${wave}s`, s, shards, 1)[0]!, created: T0 + 10_000 + wave }),
      );
      for (const e of sent) assert.equal((await postEvent(stack.apiUrl, integration.id, e, SECRET)).status, 200);
      waves.push(...sent);
      await waitFor(async () => (await rowsByKey(stack.pool, integration.table)).size === CUSTOMERS + waves.length, { what: `the rows of wave ${wave}` });
      byWorkflow = await runsOfAll();
    }
    const runs = [...byWorkflow.values()].flat();
    const continued = runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length;
    console.error(`[ingest] ${events.length} events and ${waves.length / shards} waves, ${runs.length} runs across ${byWorkflow.size} ingest workflows (${continued} continued as new); POSTed in ${postMs} ms`);
    assert.ok(runs.length > shards, `more runs (${runs.length}) than workflows (${shards})`);
    for (const [id, of] of byWorkflow) {
      const statuses = of.map((r) => r.status);
      assert.deepEqual(statuses, [...statuses.slice(0, -1).map(() => 'CONTINUED_AS_NEW'), 'RUNNING'], `${id}: ${statuses.join(', ')}`);
    }

    for (let shard = 0; shard < shards; shard++) {
      const handle = stack.temporal.client.workflow.getHandle(ingestWorkflowId(integration.id, shard));
      // The limit reached the workflow through the API: it is in the current run's input.
      const history = await handle.fetchHistory();
      const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
      const input = JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8'));
      assert.equal(input.historyLimit, HISTORY_LIMIT);
      assert.equal(input.integrationId, integration.id);
      // Every run, the continued ones too, carries the search attribute, and the current one names
      // its integration and shard in its details from its start (a static summary is the first
      // run's only: continue-as-new cannot carry it), with the totals and last batch carried over.
      for (const run of byWorkflow.get(handle.workflowId)!) {
        const description = await stack.temporal.client.workflow.getHandle(handle.workflowId, run.runId).describe();
        assert.equal(description.typedSearchAttributes.get(integrationIdKey), integration.id, `${handle.workflowId} run ${run.runId}`);
      }
      const details = await currentDetails(handle);
      assert.ok(details.includes(integration.id) && details.includes(`shard ${shard + 1} of ${shards}`), `shard ${shard} details: ${details}`);
      assert.match(details, /Last batch: upsert \d+ events?: \d+ applied, \d+ older discarded/);
      // The first run has the summary naming them.
      const first = byWorkflow.get(handle.workflowId)![0]!;
      const firstSummary = await (await stack.temporal.client.workflow.getHandle(handle.workflowId, first.runId).describe()).staticSummary();
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
      return taken === events.length + waves.length && { taken, processed, deadLettered: all.reduce((n, t) => n + t!.deadLettered, 0) };
    }, { what: 'totals of every event' });
    assert.deepEqual(totals, { taken: events.length + waves.length, processed: events.length + waves.length, deadLettered: 0 });
    assert.deepEqual(await inboxRows(stack.pool, integration.id), []);
  });
});

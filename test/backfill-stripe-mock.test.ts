import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backfillWorkflowId } from '../src/contract/names';
import { startStack, type Stack } from './support/harness';
import { allText, newIntegration, runCli, stackEnv } from './support/httpsync';
import { currentDetails, historyText, rowOf } from './support/ingest';
import { startStripeMock } from './support/stripe-mock';

// Against Stripe's own API mock: the list API as Stripe documents it (its OpenAPI description),
// its answer shapes and its authentication.
describe('backfill against stripe-mock', () => {
  let stack: Stack;
  let stripe: Awaited<ReturnType<typeof startStripeMock>>;
  const API_KEY = 'sk_test_backfillStripeMock4d2f9a';

  before(async () => {
    [stack, stripe] = await Promise.all([startStack(), startStripeMock()]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), stripe?.close()]);
  });

  test('`integrations backfill --wait --json` lists the customers into the table, and `info` shows it done', async () => {
    const integration = await newIntegration(stack);
    // What stripe-mock lists, asked directly.
    const listed = (await (await fetch(`${stripe.httpUrl}/v1/customers?limit=100`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
      data: Array<Record<string, any>>;
      has_more: boolean;
    };
    assert.ok(listed.data.length > 0);

    const before = Date.now();
    const run = await runCli(['integrations', 'backfill', integration.id, '--api-key', API_KEY, '--api-base', stripe.url, '--wait', '--json'], {
      env: stackEnv(stack),
      timeoutMs: 90_000,
    });
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.state, 'done');
    assert.equal(result.started, true);
    assert.equal(result.workflow_id, backfillWorkflowId(integration.id));
    assert.equal(result.pages, 1);
    assert.equal(result.rows, listed.data.length);
    assert.equal(result.applied, listed.data.length);
    assert.equal(result.cursor, listed.data.at(-1)!.id);

    for (const customer of listed.data) {
      const row = await rowOf(stack.pool, integration.table, customer.id);
      assert.ok(row, `${customer.id} is in the table`);
      assert.deepEqual(row.data, customer);
      assert.equal(row.deleted, false);
      assert.equal(Number(row.balance), customer.balance);
      assert.equal(row.created.getTime(), customer.created * 1000);
      // The version time is the fetch time, rounded down to Stripe's whole seconds.
      assert.equal(row.updated.getTime() % 1000, 0);
      assert.ok(row.updated.getTime() >= Math.floor(before / 1000) * 1000 && row.updated.getTime() <= Date.now());
    }

    const info = await runCli(['integrations', 'info', integration.id, '--json'], { env: stackEnv(stack) });
    assert.equal(info.code, 0, info.stderr);
    const backfill = JSON.parse(info.stdout).backfill;
    assert.equal(backfill.state, 'done');
    assert.equal(backfill.rows, listed.data.length);
    assert.ok(backfill.started_at && backfill.finished_at);
    const human = await runCli(['integrations', 'info', integration.id], { env: stackEnv(stack) });
    assert.match(human.stdout, /backfill.*done: 1 page, \d+ rows? listed/);

    // The Temporal UI: what is backfilled from where, and how far it got.
    const handle = stack.temporal.client.workflow.getHandle(backfillWorkflowId(integration.id));
    const summary = await (await handle.describe()).staticSummary();
    assert.equal(summary, `Backfill of \`${integration.table}\` (stripe_customer_v1 \`${integration.id}\`) from \`${stripe.url}\``);
    const details = await currentDetails(handle);
    assert.match(details, /\*\*State:\*\* done at /);
    assert.match(details, new RegExp(`\\*\\*Listed:\\*\\* ${listed.data.length} rows? in 1 page; ${listed.data.length} rows? inserted or changed`));

    // The key stays in PostgreSQL: not in the workflow's history, nor in any output.
    const history = await handle.fetchHistory();
    for (const text of [historyText(history), run.stdout, run.stderr, info.stdout, human.stdout, allText(backfill)]) {
      assert.ok(!text.includes(API_KEY), 'the API key is nowhere');
    }
  });
});

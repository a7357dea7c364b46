import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBackfill, waitForBackfill } from '../src/services/backfill';
import { backfillWorkflowId } from '../src/contract/names';
import { backfillStatusQuery } from '../src/contract/messages';
import { startStack, waitFor, type Stack } from './support/harness';
import { allText, newIntegration, runCli, runsWithEvents, startPollingWorker, stackEnv, WEBHOOK_SECRET, type WorkerChild } from './support/httpsync';
import { currentDetails, historyText, rowOf, rowsByKey } from './support/ingest';
import { startListServer, type ListServer } from './support/list-server';
import { recordIfAsked } from './support/histories';
import { customerEvent, postEvent } from './support/stripe';

const API_KEY = 'sk_test_backfillFakeList7Hq2Lw9';
const customers = (prefix: string, n: number, email = (i: number) => `${prefix}${i}@listed.example`) =>
  Array.from({ length: n }, (_, i) => customerEvent({ type: 'customer.created', id: `cus_${prefix}${String(i).padStart(4, '0')}`, created: 1_700_000_000 + i, email: email(i) }).data.object);

// The history limit is low, so that retries and long backfills roll over (continue-as-new) here.
describe('backfill through a list API', () => {
  let stack: Stack;
  let server: ListServer;
  const workers: WorkerChild[] = [];

  before(async () => {
    [stack, server] = await Promise.all([startStack({ env: { HOOKSYNC_HISTORY_LIMIT: '50' } }), startListServer({ apiKey: API_KEY, items: [] })]);
  });
  after(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await Promise.allSettled([stack?.close(), server?.close()]);
  });

  const handleOf = (integrationId: string) => stack.temporal.client.workflow.getHandle(backfillWorkflowId(integrationId));

  test('pages through every page after the last key, and a run again lists everything again but changes nothing', async () => {
    const integration = await newIntegration(stack);
    server.items = customers('pages', 250);
    server.pageSize = 100;
    server.behave(undefined);
    server.requests.length = 0;
    // The key from stdin, as an operator keeps it out of shell history and `ps`.
    const run = await runCli(['integrations', 'backfill', integration.id, '--api-key', '-', '--api-base', server.url, '--wait', '--json'], {
      env: stackEnv(stack),
      stdin: `${API_KEY}\n`,
      timeoutMs: 90_000,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!run.stdout.includes(API_KEY) && !run.stderr.includes(API_KEY), 'the key is not shown');
    const result = JSON.parse(run.stdout);
    assert.deepEqual([result.state, result.pages, result.rows, result.applied, result.cursor], ['done', 3, 250, 250, 'cus_pages0249']);
    assert.deepEqual(
      server.requests.map((r) => [r.after, r.limit, r.authorization]),
      [null, 'cus_pages0099', 'cus_pages0199'].map((after) => [after, 100, `Bearer ${API_KEY}`]),
    );
    const rows = await rowsByKey(stack.pool, integration.table);
    assert.equal(rows.size, 250);
    assert.equal(rows.get('cus_pages0042').email, 'pages42@listed.example');

    const again = await startBackfill(stack.deps, integration.id, { apiBase: server.url });
    assert.equal(again.started, true, 'a finished backfill can be started again (with the stored key)');
    const second = await waitForBackfill(stack.deps, integration.id);
    assert.deepEqual([second.state, second.pages, second.rows, second.applied], ['done', 3, 250, 0], 'identical copies re-stamp nothing');
    const after = await rowsByKey(stack.pool, integration.table);
    for (const [key, row] of rows) assert.equal(after.get(key)._seq, row._seq, `${key} was not re-stamped`);

    const human = await runCli(['integrations', 'info', integration.id], { env: stackEnv(stack) });
    assert.match(human.stdout, /done: 3 pages, 250 rows listed; 0 inserted or changed/);
  });

  test('a listed copy never replaces a newer webhook version; it does replace an older one', async () => {
    const integration = await newIntegration(stack);
    const now = Math.floor(Date.now() / 1000);
    server.items = customers('race', 3);
    server.behave(undefined);
    // cus_race0000: a webhook version from the future of the fetch (an update Stripe made after it listed).
    // cus_race0001: an old webhook version. cus_race0002: only listed.
    for (const [id, created, email] of [
      ['cus_race0000', now + 3600, 'newer@webhook.example'],
      ['cus_race0001', now - 3600, 'older@webhook.example'],
    ] as const) {
      const res = await postEvent(stack.apiUrl, integration.id, customerEvent({ type: 'customer.updated', id, created, email }), WEBHOOK_SECRET);
      assert.equal(res.status, 200);
    }
    await waitFor(async () => (await rowsByKey(stack.pool, integration.table)).size === 2, { what: 'the webhooks to be applied' });
    await startBackfill(stack.deps, integration.id, { apiKey: API_KEY, apiBase: server.url });
    const done = await waitForBackfill(stack.deps, integration.id);
    assert.deepEqual([done.state, done.rows, done.applied], ['done', 3, 2]);
    assert.equal((await rowOf(stack.pool, integration.table, 'cus_race0000')).email, 'newer@webhook.example');
    assert.equal((await rowOf(stack.pool, integration.table, 'cus_race0001')).email, 'race1@listed.example');
    assert.equal((await rowOf(stack.pool, integration.table, 'cus_race0002')).email, 'race2@listed.example');

    // A webhook of the same second as the fetch wins the tie (a listed copy ranks below every change).
    const listedAt = (await rowOf(stack.pool, integration.table, 'cus_race0002')).updated.getTime() / 1000;
    await postEvent(stack.apiUrl, integration.id, customerEvent({ type: 'customer.created', id: 'cus_race0002', created: listedAt, email: 'tie@webhook.example' }), WEBHOOK_SECRET);
    await waitFor(async () => (await rowOf(stack.pool, integration.table, 'cus_race0002')).email === 'tie@webhook.example', { what: 'the webhook to win the tie' });
  });

  test('429 with Retry-After: waits as asked, shows it, and rolls over within the history limit', async () => {
    const integration = await newIntegration(stack);
    server.items = customers('slow', 60);
    server.pageSize = 10;
    server.requests.length = 0;
    // Every other request is turned away.
    server.behave((_, i) => (i % 2 === 0 ? { status: 429, headers: { 'retry-after': '1' } } : undefined));
    await startBackfill(stack.deps, integration.id, { apiKey: API_KEY, apiBase: server.url });
    const handle = handleOf(integration.id);
    const retrying = await waitFor(async () => {
      const s = await handle.query(backfillStatusQuery);
      return s.state === 'retrying' && s;
    }, { what: 'the backfill to retry', intervalMs: 50 });
    assert.match(retrying.retry!.error, /HTTP 429 Too Many Requests from 127\.0\.0\.1/);
    assert.match(await currentDetails(handle), /\*\*State:\*\* retrying after `HTTP 429/);
    const done = await waitForBackfill(stack.deps, integration.id);
    assert.deepEqual([done.state, done.pages, done.rows, done.applied], ['done', 6, 60, 60]);
    assert.equal((await rowsByKey(stack.pool, integration.table)).size, 60);
    // Each retry came at least the second Retry-After asked for, after the 429.
    for (let i = 1; i < server.requests.length; i++) {
      if (server.requests[i - 1]!.status === 429) {
        const gap = server.requests[i]!.at - server.requests[i - 1]!.at;
        assert.ok(gap >= 1000, `request ${i} came ${gap} ms after a 429 asking for 1 s`);
        assert.equal(server.requests[i]!.after, server.requests[i - 1]!.after, 'the same page is asked again');
      }
    }
    const runs = await runsWithEvents(stack.temporal.client, backfillWorkflowId(integration.id));
    assert.ok(runs.length > 1, `continued as new (${runs.length} runs)`);
    assert.ok(runs.every((r) => r.events <= 50 + 10), `every run stays near the limit: ${runs.map((r) => r.events)}`);
    assert.ok(done.retry === null && done.last_error?.includes('429'));
    await recordIfAsked(stack.temporal.client, backfillWorkflowId(integration.id), 'backfill-429', { maxRuns: 2 });
  });

  test('a worker killed mid-backfill: the next one resumes from the cursor, not from the start', async () => {
    const integration = await newIntegration(stack);
    server.items = customers('crash', 200);
    server.pageSize = 5;
    server.requests.length = 0;
    server.behave(() => ({ delayMs: 150 }));
    await stack.stopWorker();
    try {
      const first = await startWorkerProcess();
      await startBackfill(stack.deps, integration.id, { apiKey: API_KEY, apiBase: server.url });
      await waitFor(async () => server.requests.filter((r) => r.status === 200).length >= 12, { what: 'the backfill to be under way', timeoutMs: 60_000, intervalMs: 20 });
      first.child.kill('SIGKILL');
      await first.exited;
      const servedAtKill = server.requests.filter((r) => r.status === 200).length;
      const listedAtKill = new Set(server.requests.flatMap((r) => r.keys));
      const requestsAtKill = server.requests.length;
      assert.ok(servedAtKill < 40, `the backfill was not over at the kill (${servedAtKill} pages)`);

      const second = await startWorkerProcess();
      const done = await waitForBackfill(stack.deps, integration.id);
      assert.equal(done.state, 'done');
      const resumed = server.requests.slice(requestsAtKill);
      assert.ok(resumed.length > 0);
      assert.ok(resumed.every((r) => r.after !== null), 'no request started from the beginning again');
      assert.ok(listedAtKill.has(resumed[0]!.after!), `resumed after ${resumed[0]!.after}, a key listed before the kill`);
      // At most the pages after the last heartbeat are listed twice.
      assert.ok(resumed.length < 40, `${resumed.length} pages after the restart`);
      assert.equal((await rowsByKey(stack.pool, integration.table)).size, 200);
      assert.ok(done.rows >= 200 && done.pages >= 40);
      assert.ok(!second.stderr().includes(API_KEY) && !first.stderr().includes(API_KEY), 'the worker never logs the API key');
      await recordIfAsked(stack.temporal.client, backfillWorkflowId(integration.id), 'backfill-worker-lost', { maxRuns: 2 });
    } finally {
      for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
      await Promise.all(workers.map((w) => w.exited));
      await stack.startWorker();
    }
  });

  test('a running backfill is not started twice; bad keys and refused addresses change nothing', async () => {
    const integration = await newIntegration(stack);
    server.items = customers('twice', 30);
    server.pageSize = 5;
    // Slow pages until the second start was tried: the first backfill is still running then.
    let pageDelayMs = 2_000;
    server.behave(() => ({ delayMs: pageDelayMs }));
    const first = await startBackfill(stack.deps, integration.id, { apiKey: API_KEY, apiBase: server.url });
    assert.equal(first.started, true);
    const cli = await runCli(['integrations', 'backfill', integration.id, '--api-base', server.url], { env: stackEnv(stack, { HOOKSYNC_BACKFILL_API_KEY: API_KEY }) });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /already running .*not starting another/);
    pageDelayMs = 50;
    const api = await fetch(`${stack.apiUrl}/v1/integrations/${integration.id}/backfill`, { method: 'GET' });
    assert.equal(api.status, 404, 'the management API is off without HOOKSYNC_API_TOKEN');
    const done = await waitForBackfill(stack.deps, integration.id);
    assert.equal(done.rows, 30);

    const fresh = await newIntegration(stack);
    const refusals: Array<[string[], RegExp]> = [
      [['--api-key', 'pk_test_notasecretkey'], /API key looks like sk_live_/],
      [['--api-key', API_KEY, '--api-base', 'https://10.1.2.3'], /refused: 10\.1\.2\.3 is a private address/],
      [['--api-key', API_KEY, '--api-base', 'https://user:pw@127.0.0.1'], /may not carry credentials/],
      [['--api-key', API_KEY, '--api-base', 'http://127.0.0.1:1'], /must use https/],
      [[], /no API key is stored/],
    ];
    for (const [args, message] of refusals) {
      const r = await runCli(['integrations', 'backfill', fresh.id, ...args, '--json'], { env: stackEnv(stack) });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(JSON.parse(r.stdout).error.detail, message);
      assert.ok(!allText(r).includes(API_KEY));
    }
    const { rows } = await stack.pool.query('SELECT backfill_api_key IS NULL AS none FROM integrations WHERE id = $1', [fresh.id]);
    assert.equal(rows[0].none, true, 'nothing was stored');
    const info = JSON.parse((await runCli(['integrations', 'info', fresh.id, '--json'], { env: stackEnv(stack) })).stdout);
    assert.equal(info.backfill.state, 'never');

    // A key the upstream refuses: the backfill stops (failed) instead of retrying for ever.
    await startBackfill(stack.deps, fresh.id, { apiKey: 'sk_test_wrongKey000', apiBase: server.url });
    const failed = await waitForBackfill(stack.deps, fresh.id);
    assert.equal(failed.state, 'failed');
    assert.match(failed.last_error!, /HTTP 401 Unauthorized from 127\.0\.0\.1:\d+: is the API key right/);
    const wait = await runCli(['integrations', 'backfill', fresh.id, '--api-base', server.url, '--wait'], { env: stackEnv(stack), timeoutMs: 60_000 });
    assert.equal(wait.code, 1, 'a failed backfill with --wait exits 1');
    assert.match(wait.stdout, /Backfill of svi_\w+ failed: HTTP 401/);

    const history = historyText(await handleOf(integration.id).fetchHistory());
    assert.ok(!history.includes(API_KEY), 'the key is not in the history');
  });

  const startWorkerProcess = () => startPollingWorker(stack, workers);
});

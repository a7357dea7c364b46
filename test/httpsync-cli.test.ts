import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { IntegrationView } from '../src/services/integrations';
import { deleteTarget } from '../src/services/targets';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { triggerSignal } from '../src/contract/messages';
import { httpSyncWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertNoSecret,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  runCli,
  secretForms,
  stackEnv,
  syncPages,
  targetStatus,
  type CliResult,
} from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { historyLength, signalTaken } from './support/runs';

// Guarantee 1 (and the CLI half of 13): the real `hooksync httpsync …` CLI, as a child process,
// against this file's stack (its worker runs the workflows the CLI starts).
describe('hooksync httpsync CLI', () => {
  let stack: Stack;
  let receiver: Receiver;
  let receiver2: Receiver;
  let integration: IntegrationView;
  let targetId: string;
  const PASSWORD = 'Pw-cli-Z7q9xKq2mVv8';
  const PASSWORD2 = 'Pw-cli-second-R4t6yU1';
  const secrets = [...secretForms('cliuser', PASSWORD), ...secretForms('cliuser2', PASSWORD2)];
  /** Every CLI output of this file, checked for the secrets at the end. */
  const outputs: string[] = [];

  const cli = async (args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> => {
    const r = await runCli(['httpsync', ...args], { env: stackEnv(stack, opts.env), stdin: opts.stdin });
    outputs.push(`$ hooksync httpsync ${args[0]}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const ok = (r: CliResult) => assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const masked = () => `https://***:***@127.0.0.1:${new URL(receiver.endpoint).port}/sync`;
  const targetRows = async (integrationId: string) =>
    (await stack.pool.query('SELECT id FROM sync_targets WHERE integration_id = $1', [integrationId])).rows.map((r) => r.id as string);
  const workflowsOf = async (integrationId: string) => {
    const ids: string[] = [];
    for await (const wf of stack.temporal.client.workflow.list({ query: `HooksyncIntegrationId = '${integrationId}'` })) ids.push(wf.workflowId);
    return ids;
  };
  const infoJson = async (id: string) => {
    const r = await cli(['info', id, '--json']);
    ok(r);
    return JSON.parse(r.stdout);
  };

  before(async () => {
    [stack, receiver, receiver2] = await Promise.all([
      startStack(),
      startReceiver({ user: 'cliuser', password: PASSWORD }),
      startReceiver({ user: 'cliuser2', password: PASSWORD2 }),
    ]);
    integration = await newIntegration(stack);
  });
  after(async () => {
    await Promise.all([stack?.close(), receiver?.close(), receiver2?.close()]);
  });

  test('create without --url prompts, reads one line from stdin, verifies, and starts the workflow with the defaults', async () => {
    // Only the first line is read.
    const r = await cli(['create', integration.id], { stdin: `${receiver.url}\nhttps://not:read@example.com/second-line\n` });
    ok(r);
    assert.match(r.stdout + r.stderr, /Enter the HTTP endpoint that hooksync should sync data to:/);
    assert.ok(
      r.stdout.includes(`Every 60 seconds, data from stripe_customer_v1 in ${integration.table} will be synchronized to ${masked()}`),
      r.stdout,
    );
    assert.match(integration.table, /^stripe_customer_v1_[0-9a-f]{4}$/);
    const rows = await stack.pool.query('SELECT * FROM sync_targets WHERE integration_id = $1', [integration.id]);
    assert.equal(rows.rowCount, 1);
    const t = rows.rows[0];
    targetId = t.id;
    assert.match(targetId, /^hst_/);
    assert.ok(r.stdout.includes(targetId));
    assert.deepEqual(
      { period: t.period_seconds, pageSize: t.page_size, timeout: t.timeout_seconds, mode: t.mode, paused: t.paused },
      { period: 60, pageSize: 200, timeout: 60, mode: 'interval', paused: false },
    );
    // The verification POST: an empty page with Basic Auth, made before the target was saved.
    const verification = receiver.requests[0]!;
    assert.equal(verification.authorized, true);
    assert.deepEqual(verification.body.rows, []);
    assert.equal(verification.body.integration_id, integration.id);
    const d = await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId)).describe();
    assert.equal(d.status.name, 'RUNNING');
    assert.equal(d.taskQueue, stack.config.HOOKSYNC_TASK_QUEUE);
    const status = await targetStatus(stack, targetId);
    assert.deepEqual(status.settings, { periodSeconds: 60, pageSize: 200, timeoutSeconds: 60, mode: 'interval', paused: false });
  });

  // Independent of each other (own integrations and endpoints, or read-only): run side by side.
  describe('create and list, side by side', { concurrency: true }, () => {
    test('create refuses (exit 1, a clear message, nothing created) plain http, URLs without Basic Auth, and endpoints whose verification POST fails or times out', async () => {
      const other = await newIntegration(stack);
      const failing = await startReceiver({ user: 'cliuser', password: PASSWORD });
      const hanging = await startReceiver({ user: 'cliuser', password: PASSWORD });
      failing.respondWith(() => ({ status: 500, body: { error: 'down for maintenance' } }));
      hanging.respondWith(() => ({ status: 200, delayMs: 30_000 }));
      try {
        const [plainHttp, noAuth, userOnly, answered500, timedOut] = await Promise.all([
          cli(['create', other.id, '--url', receiver.url.replace('https:', 'http:')]),
          cli(['create', other.id, '--url', receiver.endpoint]),
          cli(['create', other.id, '--url', receiver.endpoint.replace('https://', 'https://cliuser@')]),
          cli(['create', other.id, '--url', failing.url, '--json']),
          cli(['create', other.id, '--url', hanging.url, '--timeout', '1']).then((r) => ({ ...r, exitedAt: Date.now() })),
        ]);
        const refused = (r: CliResult, pattern: RegExp) => {
          assert.equal(r.code, 1, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
          assert.match(r.stderr, /^error: /m);
          assert.match(r.stderr, pattern);
        };
        refused(plainHttp, /must use https.*HOOKSYNC_ALLOW_HTTP=1/);
        refused(noAuth, /must carry Basic Auth credentials/);
        refused(userOnly, /must carry Basic Auth credentials/);
        refused(answered500, /verification POST \(an empty page\) to https:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/sync failed: HTTP 500/);
        assert.equal(JSON.parse(answered500.stdout).error.code, 'verification_failed');
        refused(timedOut, /verification POST .* failed: no response from 127\.0\.0\.1:\d+ within 1 s/);
        // The endpoints did get one (empty, authenticated) verification page each.
        for (const r of [failing, hanging]) {
          assert.equal(r.requests.length, 1);
          assert.deepEqual(r.requests[0]!.body.rows, []);
          assert.equal(r.requests[0]!.authorized, true);
        }
        // The hanging one was given up on after the 1 s timeout, not after its 30 s.
        assert.ok(timedOut.exitedAt - hanging.requests[0]!.at < 15_000);
        assert.equal(hanging.requests[0]!.status, 0, 'no answer reached the sender');
        // Nothing was created: no row, no workflow.
        assert.deepEqual(await targetRows(other.id), []);
        assert.deepEqual(await workflowsOf(other.id), []);
      } finally {
        await Promise.all([failing.close(), hanging.close()]);
      }
    });

    test('plain http is accepted when HOOKSYNC_ALLOW_HTTP=1 (and the workflow of a created target is listed by integration)', async () => {
      const allowed = await newIntegration(stack);
      const auth = 'Basic ' + Buffer.from(`cliuser:${PASSWORD}`).toString('base64');
      const bodies: any[] = [];
      const server = http.createServer((req, res) => {
        let text = '';
        req.on('data', (c) => (text += c)).on('end', () => {
          bodies.push({ auth: req.headers.authorization === auth, body: JSON.parse(text) });
          res.writeHead(req.headers.authorization === auth ? 200 : 401).end('{}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const url = `http://cliuser:${PASSWORD}@127.0.0.1:${port}/plain`;
        const r = await cli(['create', allowed.id, '--url', url, '--json'], { env: { HOOKSYNC_ALLOW_HTTP: '1' } });
        ok(r);
        const t = JSON.parse(r.stdout);
        assert.equal(t.url, `http://***:***@127.0.0.1:${port}/plain`);
        assert.ok(bodies.length >= 1 && bodies[0].auth);
        assert.deepEqual(await targetRows(allowed.id), [t.id]);
        assert.equal((await stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(t.id)).describe()).status.name, 'RUNNING');
        await deleteTarget(stack.deps, t.id);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    test('create with every flag and --json prints one JSON document with the contract keys', async () => {
      const other = await newIntegration(stack);
      const r = await cli(['create', other.id, '--url', receiver.url, '--period', '5', '--page-size', '3', '--timeout', '7', '--on-insert', '--json']);
      ok(r);
      const t = JSON.parse(r.stdout);
      for (const key of ['id', 'integration_id', 'url', 'period_seconds', 'page_size', 'timeout_seconds', 'mode', 'paused']) assert.ok(key in t, `key ${key}`);
      assert.equal(t.integration_id, other.id);
      assert.equal(t.url, masked());
      assert.deepEqual([t.period_seconds, t.page_size, t.timeout_seconds, t.mode, t.paused], [5, 3, 7, 'on_insert', false]);
      const status = await targetStatus(stack, t.id);
      assert.deepEqual(status.settings, { periodSeconds: 5, pageSize: 3, timeoutSeconds: 7, mode: 'on_insert', paused: false });
      // The human form of on-insert mode.
      const info = await cli(['info', t.id]);
      ok(info);
      assert.match(info.stdout, /on insert, at least every 5 s/);
      await deleteTarget(stack.deps, t.id);
    });

    test('list shows the targets with masked URLs', async () => {
      const [human, json] = await Promise.all([cli(['list']), cli(['list', '--json', '--integration', integration.id])]);
      ok(human);
      assert.ok(human.stdout.includes(targetId));
      assert.ok(human.stdout.includes('***:***@127.0.0.1'), human.stdout);
      ok(json);
      const all = JSON.parse(json.stdout);
      assert.equal(all.length, 1);
      assert.equal(all[0].id, targetId);
      assert.equal(all[0].url, masked());
    });
  });

  test('trigger syncs now; info shows cursor, rows and pages delivered, last sync, last error and rows waiting', async () => {
    const delivered = () => acceptedPages(receiver).flatMap((p) => p.body.rows).length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 5));
    const trig = await cli(['trigger', targetId]);
    ok(trig);
    assert.match(trig.stdout, new RegExp(`Triggered a sync of ${targetId}`));
    // Well before the 60 s period.
    await waitFor(async () => delivered() === 5, { what: 'the 5 rows', timeoutMs: 20_000 });
    await waitFor(async () => (await targetInfo(stack.deps, targetId)).rows_delivered === 5, { what: 'the workflow to record them' });

    const info = await infoJson(targetId);
    for (const key of ['id', 'integration_id', 'url', 'period_seconds', 'page_size', 'timeout_seconds', 'mode', 'paused']) assert.ok(key in info, `key ${key}`);
    assert.deepEqual([info.period_seconds, info.page_size, info.timeout_seconds, info.mode, info.paused], [60, 200, 60, 'interval', false]);
    assert.equal(info.url, masked());
    assert.equal(info.rows_delivered, 5);
    assert.equal(info.pages_delivered, 1);
    assert.notEqual(info.cursor.txid, '0');
    assert.ok(Date.now() - Date.parse(info.last_success_at) < 60_000, 'last success');
    assert.equal(info.last_error, null);
    assert.equal(info.rows_waiting, 0);

    // A failing receiver: the error and the rows waiting show.
    receiver.respondWith(() => ({ status: 500, body: { error: 'boom' } }));
    try {
      await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 3, 5));
      await triggerTarget(stack.deps, targetId);
      // Rows may be held back a moment by a transaction of another test file: wait for the 500 itself.
      await explained(
        stack,
        targetId,
        waitFor(async () => /HTTP 500/.test((await targetInfo(stack.deps, targetId)).last_error ?? ''), { what: 'the HTTP 500 to show' }),
      );
      const [json, text] = await Promise.all([infoJson(targetId), cli(['info', targetId])]);
      assert.match(String(json.last_error), /HTTP 500/, `info --json: ${JSON.stringify(json)}\nreceiver: ${JSON.stringify(syncPages(receiver).map((p) => [p.status, p.pageId]))}`);
      assert.ok(json.error_count >= 1);
      assert.equal(json.rows_waiting, 3);
      assert.equal(json.rows_delivered, 5);
      ok(text);
      assert.ok(text.stdout.includes(masked()));
      assert.ok(text.stdout.includes(`${json.cursor.txid}/${json.cursor.seq}`), 'the cursor');
      assert.match(text.stdout, /5 rows in 1 pages?/);
      assert.match(text.stdout, /3 rows waiting/);
      assert.match(text.stdout, /HTTP 500/);
      assert.match(text.stdout, /last success/);
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }

    await triggerTarget(stack.deps, targetId); // a trigger also retries at once
    await waitFor(async () => delivered() === 8, { what: 'all 8 rows delivered' });
    await waitFor(async () => (await targetInfo(stack.deps, targetId)).rows_delivered === 8, { what: 'the workflow to record them' });
    const recovered = await targetInfo(stack.deps, targetId);
    assert.equal(recovered.rows_delivered, 8);
    assert.equal(recovered.rows_waiting, 0);
    assert.equal(recovered.pages_delivered, 2);
  });

  test('update changes period, page size, timeout, mode and credentials in the running workflow', async () => {
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId));
    const runBefore = (await handle.describe()).runId;
    const r = await cli(['update', targetId, '--period', '120', '--page-size', '2', '--timeout', '9', '--mode', 'on_insert']);
    ok(r);
    assert.ok(r.stdout.includes(`Whenever rows change (and at least every 120 seconds), data from stripe_customer_v1 in ${integration.table} will be synchronized to ${masked()}`), r.stdout);
    const status = await waitFor(async () => {
      const st = await targetStatus(stack, targetId);
      return st.settings.pageSize === 2 ? st : undefined;
    }, { what: 'the running workflow to take the settings', timeoutMs: 10_000 });
    assert.deepEqual(status.settings, { periodSeconds: 120, pageSize: 2, timeoutSeconds: 9, mode: 'on_insert', paused: false });

    // The new page size is used.
    const pagesBefore = acceptedPages(receiver).length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 5, 100));
    await triggerTarget(stack.deps, targetId);
    await explained(stack, targetId, waitFor(async () => acceptedPages(receiver).slice(pagesBefore).flatMap((p) => p.body.rows).length === 5, { what: 'the 5 new rows' }));
    assert.deepEqual(acceptedPages(receiver).slice(pagesBefore).map((p) => p.body.rows.length), [2, 2, 1]);

    // New credentials (another receiver): verified first, then used by the running workflow.
    const [bad, moved] = await Promise.all([
      cli(['update', targetId, '--url', receiver2.url.replace(PASSWORD2, 'wrong-password')]),
      cli(['update', targetId, '--url', receiver2.url, '--json']),
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /verification POST.*HTTP 401/);
    ok(moved);
    const port2 = new URL(receiver2.endpoint).port;
    assert.equal(JSON.parse(moved.stdout).url, `https://***:***@127.0.0.1:${port2}/sync`);
    const info = await targetInfo(stack.deps, targetId);
    assert.deepEqual(
      [info.period_seconds, info.page_size, info.timeout_seconds, info.mode, info.url],
      [120, 2, 9, 'on_insert', `https://***:***@127.0.0.1:${port2}/sync`],
    );
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 1, 200));
    await triggerTarget(stack.deps, targetId);
    await waitFor(async () => acceptedPages(receiver2).flatMap((p) => p.body.rows).some((row) => row.stripe_id === 'cus_cli00200'), {
      what: 'the row at the new URL',
    });
    assert.ok(acceptedPages(receiver2).every((p) => p.authorized));
    assert.ok(!acceptedPages(receiver).flatMap((p) => p.body.rows).some((row) => row.stripe_id === 'cus_cli00200'));
    // Never restarted: the run took the changes, and (its static summary naming the old URL) continued as new.
    const d = await handle.describe();
    assert.equal(d.status.name, 'RUNNING');
    assert.equal((await stack.temporal.client.workflow.getHandle(d.workflowId, runBefore).describe()).status.name, 'CONTINUED_AS_NEW', 'the first run continued as new');
  });

  test('pause stops delivery, resume delivers what collected meanwhile', async () => {
    const r = await cli(['pause', targetId]);
    ok(r);
    assert.match(r.stdout, /Paused/);
    assert.equal((await targetInfo(stack.deps, targetId)).paused, true);
    await waitFor(async () => (await targetStatus(stack, targetId)).state === 'paused', { what: 'the paused state' });
    const before = receiver2.requests.length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 4, 300));
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId));
    const from = await historyLength(handle);
    await triggerTarget(stack.deps, targetId);
    // The workflow has decided what to do about the trigger: no delivery.
    const taken = await signalTaken(handle, triggerSignal.name, from);
    assert.ok(!taken.some((e) => e.activityTaskScheduledEventAttributes), 'no delivery started while paused');
    assert.equal(receiver2.requests.length, before, 'nothing is sent while paused');
    const resumed = await cli(['resume', targetId]);
    ok(resumed);
    assert.match(resumed.stdout, /Resumed/);
    await waitFor(async () => acceptedPages(receiver2).flatMap((p) => p.body.rows).filter((row) => row.stripe_id.startsWith('cus_cli003')).length === 4, {
      what: 'the rows that collected while paused',
    });
    assert.equal((await targetInfo(stack.deps, targetId)).paused, false);
  });

  test('delete stops the workflow and, once it has ended, nothing more is sent', async () => {
    const r = await cli(['delete', targetId]);
    ok(r);
    assert.match(r.stdout, /Deleted \S+; no new POST is sent to .* \(one already in flight may still land\)\./);
    const handle = stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId));
    await waitFor(async () => (await handle.describe()).status.name === 'COMPLETED', { what: 'the workflow to end' });
    const before = receiver.requests.length + receiver2.requests.length;
    await insertCustomers(stack.pool, integration.table, keysOf('cus_cli', 3, 400));
    const [trig, list] = await Promise.all([cli(['trigger', targetId]), cli(['list', '--json', '--integration', integration.id])]);
    assert.equal(trig.code, 1);
    assert.match(trig.stderr, /no HTTP Sync target/);
    ok(list);
    assert.deepEqual(JSON.parse(list.stdout), []);
    // Nothing is left that could send: the run ended after every delivery it started had ended (one
    // that timed out could still be POSTing), and no run came after it (this file runs no reconciler).
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.activityTaskScheduledEventAttributes).length;
    assert.equal(events.filter((e) => e.activityTaskCompletedEventAttributes || e.activityTaskFailedEventAttributes).length, started, 'every delivery ended');
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
    assert.equal(receiver.requests.length + receiver2.requests.length, before);
  });

  test('no CLI output (stdout or stderr) contains the credentials', () => {
    assert.ok(outputs.length >= 20, `${outputs.length} outputs`);
    assertNoSecret(outputs.join('\n'), secrets, 'the CLI output');
  });
});

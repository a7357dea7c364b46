import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { findTemporalCli } from '../src/dev/temporal-server';
import { createIntegration, type IntegrationView } from '../src/services/integrations';
import { createTarget } from '../src/services/targets';
import { triggerTarget } from '../src/services/target-signals';
import { type TargetView } from '../src/services/target-view';
import { httpSyncWorkflowId } from '../src/contract/names';
import { startStack, waitFor, type Stack } from './support/harness';
import { closedPort } from './support/ingest';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

/**
 * What operators see: /healthz and /readyz (also with PostgreSQL or Temporal unreachable), the
 * Prometheus figures on /metrics (on the metrics port) after real ingest and delivery, the worker's JSON logs (as a
 * separate `hooksync worker` process), and the search attributes through the real temporal CLI.
 */

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'hooksync.js');
const SECRET = 'whsec_observability_0123456789abcdef';
const run = promisify(execFile);

const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as any });

/** Sum of the samples of `name` whose labels include all of `labels` (0 when there is none). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** /metrics of the API process, on its own port (HOOKSYNC_METRICS_PORT), never the API's. */
async function scrape(stack: Stack): Promise<string> {
  const res = await fetch(stack.metricsUrl);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

let customerSeq = 0;
const customer = (prefix: string) => {
  customerSeq += 1;
  return customerEvent({ type: 'customer.created', id: `cus_${prefix}${customerSeq}`, created: 1_760_000_000 + customerSeq, email: `${prefix}${customerSeq}@example.com` });
};

/** The pages a receiver accepted that carried rows (not the empty verification POST). */
const pagesAt = (r: Receiver) => r.accepted().filter((p) => Array.isArray(p.body?.rows) && p.body.rows.length > 0);

/**
 * Triggers syncs until `done`. Rows of transactions that were still open anywhere in the cluster
 * when a sync read its page are held back (the cursor never passes them) and wait for the next
 * sync; on a shared, busy PostgreSQL one sync may not take them all.
 */
async function syncUntil(stack: Stack, targetId: string, done: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  let last = 0;
  await waitFor(
    async () => {
      if (await done()) return true;
      if (Date.now() - last > 2_000) {
        last = Date.now();
        await triggerTarget(stack.deps, targetId);
      }
      return false;
    },
    { what, timeoutMs, intervalMs: 200 },
  );
}

async function postOk(stack: Stack, integrationId: string, event: unknown): Promise<void> {
  const res = await postEvent(stack.apiUrl, integrationId, event, SECRET);
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

describe('/healthz and /readyz', () => {
  test('a stack with PostgreSQL and Temporal up is live and ready', async () => {
    const stack = await startStack({ worker: false });
    try {
      assert.deepEqual(await json(await fetch(`${stack.apiUrl}/healthz`)), { status: 200, body: { status: 'ok' } });
      const ready = await json(await fetch(`${stack.apiUrl}/readyz`));
      assert.deepEqual(ready, { status: 200, body: { status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } } });
    } finally {
      await stack.close();
    }
  });

  test('PostgreSQL unreachable: live, but /readyz answers 503 and says which, never why', async () => {
    const port = await closedPort();
    const stack = await startStack({ worker: false, env: { DATABASE_URL: `postgres://hooksync:not-the-password@127.0.0.1:${port}/nowhere` } });
    try {
      assert.deepEqual(await json(await fetch(`${stack.apiUrl}/healthz`)), { status: 200, body: { status: 'ok' } });
      const started = Date.now();
      const ready = await json(await fetch(`${stack.apiUrl}/readyz`));
      assert.ok(Date.now() - started < 5_000, 'answers within its own timeout');
      // No error text (it could name hosts, users and more): the reasons are in the log.
      assert.deepEqual(ready, { status: 503, body: { status: 'unavailable', checks: { postgres: 'failed', temporal: 'ok' } } });
      // /metrics still answers with the process's own figures; the backlog (read from PostgreSQL) is left out.
      const text = await scrape(stack);
      assert.match(text, /^hooksync_process_cpu_seconds_total /m);
      assert.ok(!/^hooksync_backlog_rows\{/m.test(text));
    } finally {
      await stack.close();
    }
  });

  test('Temporal unreachable: ready but degraded (webhooks still go into the inbox), says which, never why', async () => {
    const port = await closedPort();
    const stack = await startStack({ worker: false, env: { TEMPORAL_ADDRESS: `127.0.0.1:${port}` } });
    try {
      assert.deepEqual(await json(await fetch(`${stack.apiUrl}/healthz`)), { status: 200, body: { status: 'ok' } });
      const started = Date.now();
      const ready = await json(await fetch(`${stack.apiUrl}/readyz`));
      assert.ok(Date.now() - started < 5_000, 'answers within its own timeout');
      assert.deepEqual(ready, { status: 200, body: { status: 'degraded', checks: { postgres: 'ok', temporal: 'failed' } } });
      // Each probe answers on its own: a second one is as quick, nothing piles up.
      const again = Date.now();
      assert.equal((await fetch(`${stack.apiUrl}/readyz`)).status, 200);
      assert.ok(Date.now() - again < 5_000);
    } finally {
      await stack.close();
    }
  });
});

describe('/metrics after ingest and delivery', () => {
  let stack: Stack;
  let receiver: Receiver;
  let integration: IntegrationView;
  let target: TargetView;

  before(async () => {
    [stack, receiver] = await Promise.all([startStack(), startReceiver()]);
    integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  test('/metrics is not served on the API port', async () => {
    const res = await fetch(`${stack.apiUrl}/metrics`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { code: string }).code, 'not_found');
  });

  test('events received, accepted, ignored and rejected by reason; applied by the upsert', async () => {
    const before = await scrape(stack);
    const service = { service: 'stripe_customer_v1' };
    for (let i = 0; i < 5; i++) await postOk(stack, integration.id, customer('met'));
    // Refused: a wrong signature, no signature, a body that is not JSON; acknowledged but unused: another event type.
    const bad = await postEvent(stack.apiUrl, integration.id, customer('met'), 'whsec_not_the_secret_0123456789');
    assert.equal(bad.status, 401);
    assert.equal((await postEvent(stack.apiUrl, integration.id, customer('met'), SECRET, { signature: null })).status, 401);
    assert.equal((await postEvent(stack.apiUrl, integration.id, {}, SECRET, { rawBody: '{"not json' })).status, 400);
    assert.equal((await postEvent(stack.apiUrl, integration.id, { ...customer('met'), type: 'invoice.paid' }, SECRET)).status, 200);
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 5, { what: 'the 5 rows' });

    const now = await scrape(stack);
    const delta = (name: string, labels?: Record<string, string>) => metric(now, name, labels) - metric(before, name, labels);
    assert.equal(delta('hooksync_events_received_total', service), 9);
    assert.equal(delta('hooksync_events_accepted_total', service), 5);
    assert.equal(delta('hooksync_events_ignored_total', service), 1);
    assert.equal(delta('hooksync_events_rejected_total', { reason: 'bad_signature' }), 1);
    assert.equal(delta('hooksync_events_rejected_total', { reason: 'missing_signature' }), 1);
    assert.equal(delta('hooksync_events_rejected_total', { reason: 'malformed_json' }), 1);
    // The worker runs in this process (the harness), so the upsert's counters are here too.
    assert.equal(delta('hooksync_events_applied_total', { outcome: 'applied' }), 5);
  });

  test('rows and pages delivered, POST latency, failed attempts by reason and the backlog per target', async () => {
    // Page size 2: the 5 rows go as 3 pages (or more, when some were held back at first).
    target = await createTarget(stack.deps, integration.id, { url: receiver.url, periodSeconds: 3600, pageSize: 2, timeoutSeconds: 10, mode: 'interval' });
    await syncUntil(stack, target.id, () => receiver.rows().length === 5, 'the 5 rows delivered');
    const pages = pagesAt(receiver).length;
    assert.ok(pages >= 3, `${pages} pages`);
    const labels = { target: target.id, integration: integration.id };
    let text = await waitFor(async () => {
      const t = await scrape(stack);
      return metric(t, 'hooksync_pages_delivered_total', labels) === pages && t;
    }, { what: `the ${pages} pages in /metrics` });
    assert.equal(metric(text, 'hooksync_rows_delivered_total', labels), 5);
    assert.equal(metric(text, 'hooksync_post_duration_seconds_count', labels), pages);
    const latency = metric(text, 'hooksync_post_duration_seconds_sum', labels);
    assert.ok(latency > 0 && latency < 30, `POST latency sum ${latency} s`);
    // Every POST took less than 30 s: the histogram's 30 s bucket holds them all.
    assert.equal(metric(text, 'hooksync_post_duration_seconds_bucket', { ...labels, le: '30' }), pages);
    assert.equal(metric(text, 'hooksync_delivery_failures_total', labels), 0);
    assert.equal(metric(text, 'hooksync_backlog_rows', labels), 0);
    assert.equal(metric(text, 'hooksync_backlog_lag_seconds', labels), 0);

    // The receiver fails: three new rows wait, each attempt counts as a failure (and is retried).
    receiver.respondWith(() => ({ status: 503, body: { error: 'maintenance' } }));
    for (let i = 0; i < 3; i++) await postOk(stack, integration.id, customer('met'));
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 8, { what: 'the 8 rows' });
    await syncUntil(
      stack,
      target.id,
      async () => metric(await scrape(stack), 'hooksync_delivery_failures_total', { ...labels, reason: 'http_503' }) >= 2,
      'two failed attempts in /metrics',
    );
    text = await scrape(stack);
    assert.equal(metric(text, 'hooksync_backlog_rows', labels), 3);
    assert.ok(metric(text, 'hooksync_backlog_lag_seconds', labels) > 0, 'the oldest waiting row has an age');
    assert.equal(metric(text, 'hooksync_rows_delivered_total', labels), 5, 'failed pages are not counted as delivered');
    const failed = metric(text, 'hooksync_delivery_failures_total', labels);
    assert.equal(metric(text, 'hooksync_post_duration_seconds_count', labels), pages + failed, 'failed POSTs are timed too');

    // Back up: the backlog drains and the figures add up.
    receiver.respondWith(() => ({ status: 200 }));
    await syncUntil(
      stack,
      target.id,
      async () => {
        const t = await scrape(stack);
        return metric(t, 'hooksync_rows_delivered_total', labels) === 8 && metric(t, 'hooksync_backlog_rows', labels) === 0;
      },
      'the backlog drained in /metrics',
    );
    text = await scrape(stack);
    assert.equal(metric(text, 'hooksync_pages_delivered_total', labels), pagesAt(receiver).length);
    assert.equal(metric(text, 'hooksync_backlog_lag_seconds', labels), 0);
    // The backlog is labelled with the integration too, for dashboards per integration.
    assert.match(text, new RegExp(`^hooksync_backlog_rows\\{target="${target.id}",integration="${integration.id}"\\} 0$`, 'm'));
  });
});

describe('the worker logs JSON lines with target and integration ids and no secret', () => {
  let stack: Stack;
  let receiver: Receiver;
  const password = `pw-${crypto.randomBytes(9).toString('hex')}`;
  const taskQueue = `test-logs-${crypto.randomBytes(5).toString('hex')}`;
  let stderr = '';
  let worker: ReturnType<typeof spawn> | undefined;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  before(async () => {
    // The API (and the services) in this process; the worker as the production command, on its own task queue.
    [stack, receiver] = await Promise.all([startStack({ worker: false, env: { HOOKSYNC_TASK_QUEUE: taskQueue } }), startReceiver({ user: 'logs', password })]);
    worker = spawn(process.execPath, [BIN, 'worker'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: stack.config.DATABASE_URL,
        TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
        TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
        HOOKSYNC_TASK_QUEUE: taskQueue,
        HOOKSYNC_HOME: process.env.HOOKSYNC_HOME,
        NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
        HOOKSYNC_ALLOWED_TARGET_HOSTS: process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS,
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => worker!.once('exit', (code, signal) => resolve({ code, signal })));
    worker.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    worker.stdout!.resume();
    // It bundles the workflows first: allow for a slow, busy machine.
    await waitFor(async () => /"msg":"worker running"/.test(stderr) || undefined, { what: 'the worker to start', timeoutMs: 120_000, intervalMs: 250 }).catch((err: Error) => {
      throw new Error(`${err.message}; its stderr:\n${stderr.slice(-3000)}`);
    });
  });
  after(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  test('delivered pages and failed POSTs are logged with targetId and integrationId; nothing secret is', { timeout: 180_000 }, async () => {
    const integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    for (let i = 0; i < 3; i++) await postOk(stack, integration.id, customer('log'));
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 3, { what: 'the 3 rows (upserted by the worker process)', timeoutMs: 30_000 });
    const target = await createTarget(stack.deps, integration.id, { url: receiver.url, periodSeconds: 3600, pageSize: 2, timeoutSeconds: 10, mode: 'interval' });
    await syncUntil(stack, target.id, () => receiver.rows().length === 3, 'the 3 rows delivered');
    const pages = pagesAt(receiver);
    receiver.respondWith(() => ({ status: 500, body: { error: 'boom' } }));
    await postOk(stack, integration.id, customer('log'));
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`)).rows[0].n === 4, { what: 'the 4th row' });
    await syncUntil(stack, target.id, () => receiver.requests.some((r) => r.status === 500), 'a failed POST');
    await waitFor(async () => /"msg":"POST failed/.test(stderr) || undefined, { what: 'the failure in the log', timeoutMs: 10_000 });

    worker!.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const { code, signal } = await Promise.race([exited, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the worker did not stop on SIGINT')), 30_000)))]).finally(() =>
      clearTimeout(timer),
    );
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `the worker stops cleanly; its stderr:\n${stderr.slice(-2000)}`);

    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    const records = lines.map((line) => {
      try {
        return JSON.parse(line) as Record<string, any>;
      } catch {
        throw new Error(`a log line that is not JSON: ${line}`);
      }
    });
    for (const r of records) {
      assert.equal(typeof r.level, 'number');
      assert.equal(typeof r.time, 'number');
      assert.equal(typeof r.msg, 'string');
    }
    const delivered = records.filter((r) => r.msg === 'page delivered' && r.targetId === target.id);
    assert.equal(delivered.length, pages.length, 'one line per delivered page');
    for (const r of delivered) {
      assert.equal(r.integrationId, integration.id);
      assert.equal(r.workflowId, httpSyncWorkflowId(target.id), 'the activity context rides along');
      assert.equal(r.level, 30);
    }
    // Numbered from 1, with the rows each page carried (3 rows in pages of at most 2).
    assert.deepEqual(delivered.map((r) => [r.page, r.rows]), pages.map((p, i) => [i + 1, p.body.rows.length]));
    const failed = records.filter((r) => /^POST failed/.test(r.msg) && r.targetId === target.id);
    assert.ok(failed.length >= 1);
    assert.equal(failed[0]!.integrationId, integration.id);
    assert.equal(failed[0]!.status, 500);
    assert.match(failed[0]!.error, /^HTTP 500 Internal Server Error from 127\.0\.0\.1:\d+$/);
    assert.equal(failed[0]!.level, 40);
    // The stop is logged too.
    assert.ok(records.some((r) => r.msg === 'stopping' && r.signal === 'SIGINT'));

    // No secret anywhere: not the receiver's password (nor its Basic Auth form), not the URL with
    // its credentials, not the webhook secret.
    const basic = Buffer.from(`logs:${password}`).toString('base64');
    for (const secret of [password, basic, receiver.url, SECRET]) {
      assert.ok(!stderr.includes(secret), `a secret in the worker's log: ${secret}`);
    }
  });
});

describe('the real temporal CLI finds workflows by the search attributes', () => {
  let stack: Stack;
  let receiver: Receiver;
  let cli: string;

  before(async () => {
    const found = await findTemporalCli(() => {});
    if (!found) throw new Error('no Temporal CLI: set TEMPORAL_CLI_PATH, put `temporal` on PATH, or install Go so hooksync can build it (see README)');
    cli = found;
    [stack, receiver] = await Promise.all([startStack(), startReceiver()]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  const list = async (query: string): Promise<Array<{ execution: { workflowId: string }; type: { name: string } }>> => {
    const { stdout } = await run(cli, ['workflow', 'list', '--address', stack.config.TEMPORAL_ADDRESS, '--namespace', stack.config.TEMPORAL_NAMESPACE, '--query', query, '--output', 'json']);
    return JSON.parse(stdout || '[]') ?? [];
  };

  test(`temporal workflow list --query "HooksyncTargetId='hst_…'" and "HooksyncIntegrationId='svi_…'"`, async () => {
    const integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    await postOk(stack, integration.id, customer('cli'));
    const [a, b] = [
      await createTarget(stack.deps, integration.id, { url: receiver.url, periodSeconds: 3600, pageSize: 10, timeoutSeconds: 10, mode: 'interval' }),
      await createTarget(stack.deps, integration.id, { url: receiver.url, periodSeconds: 3600, pageSize: 10, timeoutSeconds: 10, mode: 'on_insert' }),
    ];
    // Visibility follows a moment behind.
    const byTarget = await waitFor(async () => {
      const found = await list(`HooksyncTargetId='${a.id}'`);
      return found.length > 0 && found;
    }, { what: 'the target in the visibility store', timeoutMs: 30_000, intervalMs: 500 });
    assert.deepEqual(byTarget.map((w) => [w.execution.workflowId, w.type.name]), [[httpSyncWorkflowId(a.id), 'httpSyncWorkflow']]);

    const byIntegration = await waitFor(async () => {
      const found = await list(`HooksyncIntegrationId='${integration.id}'`);
      return found.length >= 3 && found;
    }, { what: 'the integration\'s workflows', timeoutMs: 30_000, intervalMs: 500 });
    const ids = byIntegration.map((w) => w.execution.workflowId).sort();
    // Both targets and the ingest shard that took the event; nothing of other integrations.
    assert.deepEqual(ids.filter((id) => id.startsWith('httpsync-')), [httpSyncWorkflowId(a.id), httpSyncWorkflowId(b.id)].sort());
    assert.equal(ids.filter((id) => id.startsWith(`ingest-${integration.id}-`)).length, 1);
    assert.equal(ids.length, 3);

    // And `describe` shows the summary, with the URL masked.
    const { stdout } = await run(cli, ['workflow', 'describe', '--address', stack.config.TEMPORAL_ADDRESS, '--namespace', stack.config.TEMPORAL_NAMESPACE, '--workflow-id', httpSyncWorkflowId(a.id)]);
    assert.match(stdout, /StaticSummary\s+"HTTP Sync of `stripe_customer_v1_[0-9a-f]{4}` \(stripe_customer_v1 `svi_\w+`\) to `https:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+\/sync`"/);
    assert.ok(!stdout.includes(receiver.password));
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { shardOf } from '../src/api/inbox-writer';
import { deleteIntegration } from '../src/services/integration-delete';
import { integrationInfo } from '../src/services/integrations';
import { ServiceError } from '../src/services/errors';
import { connectTemporal } from '../src/temporal/client';
import { httpSyncWorkflowId, ingestWorkflowId } from '../src/contract/names';
import { migratedSchema, type Schema } from './support/database';
import { startStack, waitFor, type Stack } from './support/harness';
import { HOOKSYNC_BIN, ROOT, newTarget, runCli, stackEnv } from './support/httpsync';
import { closedPort, rowOf } from './support/ingest';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';
import { deliver, githubDelivery, githubExamples, githubUpstream, standardDelivery } from './support/upstreams';

// `hooksync integrations create | list | info | delete` as a user runs them (the real CLI in a
// child process), and the management API's delete. This file works in a schema of its own
// (search_path in DATABASE_URL), so "nothing was created / changed" can be checked exactly while
// other test files use the same database.

const TOKEN = 'manage-test-token-0123456789';
const STRIPE_SECRET = 'whsec_' + 'manage'.repeat(6);
const SW_SECRET = 'whsec_' + Buffer.from('manage-standard-webhooks').toString('base64');
const T0 = 1_700_000_000;

describe('integrations: create, list, info and delete', () => {
  let own: Schema | undefined;
  let schema: string;
  let databaseUrl: string;
  let admin: pg.Pool;
  let stack: Stack;
  let receiver: Receiver;

  before(async () => {
    own = await migratedSchema(process.env.DATABASE_URL!, 'manage');
    [schema, databaseUrl, admin] = [own.name, own.url, own.admin];
    [stack, receiver] = await Promise.all([startStack({ env: { DATABASE_URL: databaseUrl, HOOKSYNC_API_TOKEN: TOKEN } }), startReceiver()]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
    await own?.drop();
  });

  const env = () => stackEnv(stack, { HOOKSYNC_PUBLIC_URL: stack.apiUrl });
  const hooksync = (...args: string[]) => runCli(args, { env: env() });

  /** Everything an integration owns, in this file's schema. */
  async function snapshot() {
    const q = async (sql: string, params: unknown[] = []) => (await admin.query(sql, params)).rows;
    return {
      integrations: await q(`SELECT id, service, table_name, config FROM ${schema}.integrations ORDER BY created_at`),
      tables: (await q(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema])).map((r) => r.tablename),
      targets: await q(`SELECT id, integration_id, deleted_at FROM ${schema}.sync_targets ORDER BY id`),
      inbox: await q(`SELECT count(*)::int AS n FROM ${schema}.ingest_inbox`),
      stats: await q(`SELECT * FROM ${schema}.ingest_event_stats ORDER BY 1, 2`),
    };
  }
  const statusOf = async (workflowId: string) => {
    try {
      return (await stack.temporal.client.workflow.getHandle(workflowId).describe()).status.name;
    } catch {
      return 'NOT_FOUND';
    }
  };

  test('create github_issue_v1 prints the webhook URL to give GitHub, its content type and the issues event', async () => {
    const run = await hooksync('integrations', 'create', 'github_issue_v1', '--webhook-secret', githubUpstream.secret);
    assert.equal(run.code, 0, run.stderr);
    const m = /^Created github_issue_v1 integration (svi_[0-9a-z]+) with table (github_issue_v1_[0-9a-f]{4})\.$/m.exec(run.stdout);
    assert.ok(m, run.stdout);
    const id = m[1]!;
    assert.ok(run.stdout.includes(`Webhook URL: ${stack.apiUrl}/v1/webhooks/${id}\n`), run.stdout);
    assert.match(run.stdout, /Content type: application\/json/);
    assert.match(run.stdout, /tick only Issues/);
    assert.match(run.stdout, /The webhook secret is set; events are accepted now\./);
    // GitHub's ping arrives as soon as the hook is added, then issues events.
    const ping = await deliver(stack.apiUrl, id, await githubDelivery('ping', githubExamples('ping')[0], githubUpstream.secret));
    assert.equal(ping.status, 200);
    const opened = githubExamples('issues').find((e) => e.action === 'opened');
    assert.equal((await deliver(stack.apiUrl, id, await githubDelivery('issues', opened, githubUpstream.secret))).status, 200);

    const json = await hooksync('integrations', 'create', 'github_issue_v1', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(Object.keys(JSON.parse(json.stdout)).sort(), ['id', 'service', 'table', 'webhook_url']);
  });

  test('create standard_webhooks_v1 takes the JSON pointers; bad ones are refused with a clear error and nothing is created', async () => {
    const before = await snapshot();
    const refusals: Array<[string[], RegExp]> = [
      [['--remote-key', 'data/id', '--timestamp', '/data/updated_at'], /remote_key \(--remote-key\): a JSON pointer starts with "\/": "data\/id"/],
      [['--remote-key', '/data/id'], /timestamp \(--timestamp\) is required/],
      [['--remote-key', '/data/id', '--timestamp', '/data/~x'], /bad escape in JSON pointer "\/data\/~x"/],
    ];
    for (const [flags, message] of refusals) {
      const run = await hooksync('integrations', 'create', 'standard_webhooks_v1', '--webhook-secret', SW_SECRET, ...flags);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    }
    const stripe = await hooksync('integrations', 'create', 'stripe_customer_v1', '--remote-key', '/id');
    assert.equal(stripe.code, 1);
    assert.match(stripe.stderr, /stripe_customer_v1 takes no remote_key/);
    assert.deepEqual(await snapshot(), before, 'nothing created');

    const run = await hooksync('integrations', 'create', 'standard_webhooks_v1', '--webhook-secret', SW_SECRET, '--remote-key', '/data/id', '--timestamp', '/data/updated_at', '--json');
    assert.equal(run.code, 0, run.stderr);
    const created = JSON.parse(run.stdout);
    const { integrations } = await snapshot();
    assert.deepEqual(integrations.find((i) => i.id === created.id)?.config, { remote_key: '/data/id', timestamp: '/data/updated_at' });
    const sent = await deliver(stack.apiUrl, created.id, standardDelivery({ type: 'thing.updated', data: { id: 'th_1', updated_at: T0 } }, SW_SECRET));
    assert.equal(sent.status, 200);
    await waitFor(async () => (await admin.query(`SELECT 1 FROM ${schema}.${created.table} WHERE remote_id = 'th_1'`)).rows[0], { what: 'the row' });
  });

  test('list and info show each integration\'s service, table, event counts and last event', async () => {
    const created = JSON.parse((await hooksync('integrations', 'create', 'stripe_customer_v1', '--webhook-secret', STRIPE_SECRET, '--json')).stdout);
    const events = [
      customerEvent({ type: 'customer.created', id: 'cus_Count1', created: T0 + 10, name: 'A' }),
      customerEvent({ type: 'customer.updated', id: 'cus_Count1', created: T0 + 5, name: 'older' }),
      customerEvent({ type: 'customer.deleted', id: 'cus_Count2', created: T0 + 10, name: 'B' }),
    ];
    const sentAt = Date.now();
    for (const e of events) assert.equal((await postEvent(stack.apiUrl, created.id, e, STRIPE_SECRET)).status, 200);
    const info = await waitFor(async () => {
      const i = await integrationInfo(stack.deps, created.id);
      return i.events_received === 3 && i.inbox_waiting === 0 ? i : undefined;
    }, { what: 'the events to be applied' });
    assert.equal(info.events_applied, 2, 'the older version changed nothing');
    assert.deepEqual([info.rows, info.rows_deleted], [2, 1]);
    assert.ok(info.last_event_at && Math.abs(Date.parse(info.last_event_at) - sentAt) < 60_000, info.last_event_at ?? 'null');

    const list = await hooksync('integrations', 'list', '--json');
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout).find((i: any) => i.id === created.id);
    assert.deepEqual(
      [listed.service, listed.table, listed.events_received, listed.events_applied, listed.last_event_at],
      ['stripe_customer_v1', created.table, 3, 2, info.last_event_at],
    );
    const human = await hooksync('integrations', 'list');
    const line = human.stdout.split('\n').find((l) => l.includes(created.id));
    assert.ok(line, human.stdout);
    assert.match(line, /stripe_customer_v1/);
    assert.ok(line.includes(created.table), line);
    assert.match(line, /3 \(2 changed a row\)/);
    assert.match(line, /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    assert.match(human.stdout, /events/);
    assert.match(human.stdout, /last event/);

    const shown = await hooksync('integrations', 'info', created.id);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`${created.table}: 2 rows \\(1 deleted upstream\\)`));
    assert.match(shown.stdout, /3 \(2 changed a row\); last \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(.+ ago\)/);
    const infoJson = JSON.parse((await hooksync('integrations', 'info', created.id, '--json')).stdout);
    assert.deepEqual([infoJson.events_received, infoJson.events_applied, infoJson.rows, infoJson.rows_deleted], [3, 2, 2, 1]);

    // A table locked (a migration, VACUUM FULL) does not hold info up: the rows are not counted, the rest is shown.
    const locker = await admin.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${schema}.${created.table} IN ACCESS EXCLUSIVE MODE`);
      const locked = await hooksync('integrations', 'info', created.id);
      assert.equal(locked.code, 0, locked.stderr);
      assert.match(locked.stdout, /rows not counted \(the table is locked/);
      assert.match(locked.stdout, /3 \(2 changed a row\)/);
      assert.deepEqual([(await integrationInfo(stack.deps, created.id)).rows, (await integrationInfo(stack.deps, created.id)).rows_deleted], [null, null]);
    } finally {
      await locker.query('ROLLBACK');
      locker.release();
    }
  });

  /** An integration with a running target and a running ingest workflow. */
  async function busyIntegration() {
    const created = JSON.parse((await hooksync('integrations', 'create', 'stripe_customer_v1', '--webhook-secret', STRIPE_SECRET, '--json')).stdout);
    const target = await newTarget(stack, created.id, receiver);
    assert.equal((await postEvent(stack.apiUrl, created.id, customerEvent({ type: 'customer.created', id: 'cus_Busy1', created: T0 }), STRIPE_SECRET)).status, 200);
    await waitFor(() => rowOf(stack.pool, created.table, 'cus_Busy1'), { what: 'the row' });
    const workflows = [httpSyncWorkflowId(target.id), ingestWorkflowId(created.id, shardOf('cus_Busy1', stack.config.HOOKSYNC_INGEST_SHARDS))];
    await waitFor(async () => (await Promise.all(workflows.map(statusOf))).every((s) => s === 'RUNNING'), { what: 'its workflows to run' });
    return { created, target, workflows };
  }

  test('delete refuses without confirmation when there is no terminal, and when Temporal is unreachable: nothing changes', async () => {
    const { created, workflows } = await busyIntegration();
    const before = await snapshot();
    const run = await hooksync('integrations', 'delete', created.id);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`not deleting ${created.id} without confirmation: there is no terminal to ask on; run again with --yes`));
    const json = await hooksync('integrations', 'delete', created.id, '--json');
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout).error.code, 'invalid');

    const temporal = connectTemporal(`127.0.0.1:${await closedPort()}`, stack.config.TEMPORAL_NAMESPACE);
    try {
      await assert.rejects(deleteIntegration({ ...stack.deps, temporal }, created.id), (err: unknown) => err instanceof ServiceError && err.code === 'unavailable');
    } finally {
      await temporal.close();
    }
    const unknown = await hooksync('integrations', 'delete', 'svi_nosuchintegration', '--yes');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no integration svi_nosuchintegration/);

    assert.deepEqual(await snapshot(), before, 'nothing changed');
    assert.deepEqual(await Promise.all(workflows.map(statusOf)), ['RUNNING', 'RUNNING'], 'its workflows still run');
  });

  test('delete asks on a terminal: no keeps everything; yes removes the integration, its targets, its table and its workflows', async () => {
    const { created, target, workflows } = await busyIntegration();
    const before = await snapshot();
    // A pseudo-terminal (util-linux `script`), as a person at a shell has.
    const onTerminal = (answer: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const cmd = `${process.execPath} ${HOOKSYNC_BIN} integrations delete ${created.id}`;
        const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: ROOT, env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        // Answered once the question is on the screen.
        const asked = setInterval(() => {
          if (screenText(out).includes('cannot be undone')) {
            clearInterval(asked);
            child.stdin.write(answer);
          }
        }, 50);
        child.on('close', (code) => {
          clearInterval(asked);
          resolve({ code, out: screenText(out) });
        });
      });
    const no = await onTerminal('n\r');
    assert.equal(no.code, 1, no.out);
    assert.ok(no.out.includes(`Delete stripe_customer_v1 integration ${created.id}, its table ${created.table} with every row in it and its 1 HTTP Sync target (${target.id})?`), no.out);
    assert.match(no.out, new RegExp(`not deleted: ${created.id} is unchanged`));
    assert.deepEqual(await snapshot(), before, 'nothing changed');

    const yes = await onTerminal('y\r');
    assert.equal(yes.code, 0, yes.out);
    assert.ok(yes.out.includes(`Deleted stripe_customer_v1 integration ${created.id} and its table ${created.table}.`), yes.out);
    await assertGone(created, [target.id], workflows);
  });

  test('delete --yes, and DELETE /v1/integrations/{id}, remove it all at once', async () => {
    const first = await busyIntegration();
    const run = await hooksync('integrations', 'delete', first.created.id, '--yes', '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      id: first.created.id,
      service: 'stripe_customer_v1',
      table: first.created.table,
      targets: [first.target.id],
      workflows_terminated: first.workflows,
    });
    await assertGone(first.created, [first.target.id], first.workflows);

    const second = await busyIntegration();
    const del = (id: string) => fetch(`${stack.apiUrl}/v1/integrations/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    const res = await del(second.created.id);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as any).targets, [second.target.id]);
    await assertGone(second.created, [second.target.id], second.workflows);
    const again = await del(second.created.id);
    assert.equal(again.status, 404);
    assert.equal(((await again.json()) as any).code, 'not_found');

    // Once the API processes have noticed (they cache an integration for 5 s), its URL answers 404.
    const lateEvent = customerEvent({ type: 'customer.created', id: 'cus_Late', created: T0 });
    await waitFor(async () => (await postEvent(stack.apiUrl, second.created.id, lateEvent, STRIPE_SECRET)).status === 404, {
      what: 'the deleted integration\'s URL to answer 404',
      intervalMs: 500,
    });

    // Until then an API may still accept its events: they land in the inbox (or, failing, among
    // the dead letters) of an integration that is gone. The worker removes them, with no wake-up
    // from anyone (the sweep finds them by index), and leaves those of live integrations alone.
    const count = async (table: string) =>
      (await admin.query(`SELECT count(*)::int AS n FROM ${schema}.${table} WHERE integration_id = $1`, [second.created.id])).rows[0].n as number;
    await admin.query(
      `INSERT INTO ${schema}.ingest_inbox (integration_id, shard, remote_key, version_at, precedence, deleted, body)
       SELECT $1, g % 4, 'cus_Late' || g, now(), 1, false, '{}' FROM generate_series(1, 6) g`,
      [second.created.id],
    );
    await admin.query(
      `INSERT INTO ${schema}.ingest_dead_letters (integration_id, shard, remote_key, version_at, precedence, deleted, body, received_at, error)
       VALUES ($1, 1, 'cus_LateLetter', now(), 1, false, '{}', now(), 'accepted after the delete')`,
      [second.created.id],
    );
    await waitFor(async () => ((await count('ingest_inbox')) === 0 && (await count('ingest_dead_letters')) === 0) || undefined, {
      what: 'the late events and dead letter of the deleted integration removed',
      timeoutMs: 60_000,
    });
  });

  /** What a terminal shows, as one line: without escape sequences, wrapped lines joined. */
  const screenText = (raw: string) => raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\s+/g, ' ');

  async function assertGone(created: { id: string; table: string }, targetIds: string[], workflows: string[]) {
    const now = await snapshot();
    assert.ok(!now.integrations.some((i) => i.id === created.id), 'the integration is gone');
    assert.ok(!now.tables.includes(created.table), 'its table is dropped');
    assert.ok(!now.targets.some((t) => targetIds.includes(t.id) || t.integration_id === created.id), 'its targets are gone');
    assert.ok(!now.stats.some((s) => s.integration_id === created.id), 'its counters are gone');
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.ingest_inbox WHERE integration_id = $1`, [created.id]);
    assert.equal(rows[0].n, 0);
    assert.deepEqual(await Promise.all(workflows.map(statusOf)), workflows.map(() => 'TERMINATED'), 'its workflows are terminated');
  }
});

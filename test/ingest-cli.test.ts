import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { migratedSchema, type Schema } from './support/database';
import { startStack, waitFor, type Stack } from './support/harness';
import { rowOf } from './support/ingest';
import { customerEvent, stripeSignature } from './support/stripe';

// `hooksync integrations …` as a user runs it: the real CLI in a child process. This file works in
// a schema of its own (search_path in DATABASE_URL), so "nothing was created" can be checked
// exactly while other test files create integrations in the same database.

const ROOT = path.join(__dirname, '..');
const T0 = 1_700_000_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('ingest: hooksync integrations (CLI)', () => {
  let own: Schema | undefined;
  let schema: string;
  let databaseUrl: string;
  let admin: pg.Pool;
  let stack: Stack;

  function hooksync(...args: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'hooksync.js'), ...args], {
        cwd: ROOT,
        // DATABASE_URL, TEMPORAL_ADDRESS and HOOKSYNC_HOME as npm test set them; the database in this file's schema.
        env: { ...process.env, DATABASE_URL: databaseUrl, HOOKSYNC_PUBLIC_URL: stack.apiUrl, HOOKSYNC_TASK_QUEUE: stack.config.HOOKSYNC_TASK_QUEUE },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Integrations and tables in this file's schema. */
  async function snapshot(): Promise<{ integrations: any[]; tables: string[] }> {
    const { rows: integrations } = await admin.query(`SELECT id, service, table_name, webhook_secret FROM ${schema}.integrations ORDER BY created_at`);
    const { rows: tables } = await admin.query<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
      [schema],
    );
    return { integrations, tables: tables.map((t) => t.name) };
  }

  async function postSigned(url: string, secret: string, event: Record<string, any>): Promise<number> {
    const payload = JSON.stringify(event);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, secret) },
      body: payload,
    });
    await res.arrayBuffer();
    return res.status;
  }

  before(async () => {
    own = await migratedSchema(process.env.DATABASE_URL!, 'cli');
    [schema, databaseUrl, admin] = [own.name, own.url, own.admin];
    stack = await startStack({ env: { DATABASE_URL: databaseUrl } });
  });
  after(async () => {
    await stack?.close();
    await own?.drop();
  });

  let plain: { id: string; table: string };
  let withSecret: { id: string; table: string; webhook_url: string };
  const SECRET = 'whsec_' + crypto.randomBytes(16).toString('hex');

  test('integrations create prints the integration, its table, the webhook URL and what to do next', async () => {
    const run = await hooksync('integrations', 'create', 'stripe_customer_v1');
    assert.equal(run.code, 0, run.stderr);
    const created = /^Created stripe_customer_v1 integration (svi_[0-9a-z]+) with table (stripe_customer_v1_[0-9a-f]{4})\.$/m.exec(run.stdout);
    assert.ok(created, run.stdout);
    const [, id, table] = created as unknown as [string, string, string];
    plain = { id, table };
    const webhookUrl = `${stack.apiUrl}/v1/webhooks/${id}`;
    assert.ok(run.stdout.includes(`Webhook URL: ${webhookUrl}\n`), run.stdout);
    assert.match(run.stdout, /Next:/);
    assert.match(run.stdout, /customer\.created, customer\.updated and customer\.deleted/);
    assert.ok(run.stdout.includes(`hooksync integrations update ${id} --webhook-secret - and paste it`), run.stdout);
    assert.ok(run.stdout.includes(`hooksync httpsync create ${id}`), run.stdout);

    const { integrations, tables } = await snapshot();
    assert.deepEqual(integrations, [{ id, service: 'stripe_customer_v1', table_name: table, webhook_secret: null }]);
    assert.ok(tables.includes(table));

    // The table has the columns of the real resource, and the change-tracking columns.
    const { rows: columns } = await admin.query<{ column_name: string; data_type: string; is_nullable: string }>(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
      [schema, table],
    );
    const types = Object.fromEntries(columns.map((c) => [c.column_name, c.data_type]));
    const expected: Record<string, string> = {
      stripe_id: 'text',
      balance: 'bigint',
      created: 'timestamp with time zone',
      email: 'text',
      name: 'text',
      phone: 'text',
      updated: 'timestamp with time zone',
      deleted: 'boolean',
      data: 'jsonb',
      _txid: 'xid8',
      _seq: 'bigint',
    };
    for (const [column, type] of Object.entries(expected)) assert.equal(types[column], type, `${table}.${column}`);
    const notNull = new Set(columns.filter((c) => c.is_nullable === 'NO').map((c) => c.column_name));
    for (const column of ['stripe_id', 'updated', 'data', '_txid', '_seq']) assert.ok(notNull.has(column), `${column} NOT NULL`);
    // One row per Stripe id, and the cursor's index.
    const { rows: indexes } = await admin.query<{ def: string }>(
      `SELECT indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`,
      [schema, table],
    );
    assert.ok(indexes.some((i) => /UNIQUE INDEX .*\(stripe_id\)/.test(i.def)), JSON.stringify(indexes));
    assert.ok(indexes.some((i) => /\(_txid, _seq\)/.test(i.def)), JSON.stringify(indexes));

    // No secret yet: the API refuses its events with a hint.
    const status = await postSigned(webhookUrl, SECRET, customerEvent({ type: 'customer.created', id: 'cus_Cli0', created: T0 }));
    assert.equal(status, 401);
  });

  test('integrations create --webhook-secret --json prints exactly {id, service, table, webhook_url}, and events signed with the secret land in the table', async () => {
    const run = await hooksync('integrations', 'create', 'stripe_customer_v1', '--webhook-secret', SECRET, '--json');
    assert.equal(run.code, 0, run.stderr);
    const doc = JSON.parse(run.stdout); // the whole of stdout is one JSON document
    assert.deepEqual(Object.keys(doc).sort(), ['id', 'service', 'table', 'webhook_url']);
    assert.match(doc.id, /^svi_[0-9a-z]+$/);
    assert.equal(doc.service, 'stripe_customer_v1');
    assert.match(doc.table, /^stripe_customer_v1_[0-9a-f]{4}$/);
    assert.equal(doc.webhook_url, `${stack.apiUrl}/v1/webhooks/${doc.id}`);
    assert.ok(!run.stdout.includes(SECRET) && !run.stderr.includes(SECRET), 'the secret is not printed');
    withSecret = doc;

    const { integrations } = await snapshot();
    assert.equal(integrations.find((i) => i.id === doc.id)?.webhook_secret, SECRET);
    assert.equal(await postSigned(doc.webhook_url, SECRET, customerEvent({ type: 'customer.created', id: 'cus_Cli1', created: T0, email: 'cli@example.com' })), 200);
    const row = await waitFor(() => rowOf(stack.pool, doc.table, 'cus_Cli1'), { what: 'the row' });
    assert.equal(row.email, 'cli@example.com');
  });

  test('integrations update <id> --webhook-secret sets the secret; events signed with it are accepted', async () => {
    assert.ok(plain, 'needs the integration of the first test');
    const secret = 'whsec_' + crypto.randomBytes(16).toString('hex');
    const run = await hooksync('integrations', 'update', plain.id, '--webhook-secret', secret);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(plain.id), run.stdout);
    assert.ok(!run.stdout.includes(secret), 'the secret is not printed');
    const { integrations } = await snapshot();
    assert.equal(integrations.find((i) => i.id === plain.id)?.webhook_secret, secret);

    const url = `${stack.apiUrl}/v1/webhooks/${plain.id}`;
    const event = customerEvent({ type: 'customer.created', id: 'cus_Cli2', created: T0, email: 'updated@example.com' });
    // The API caches integrations for up to 5 s.
    await waitFor(async () => (await postSigned(url, secret, event)) === 200, { timeoutMs: 10_000, intervalMs: 250, what: 'the new secret accepted' });
    assert.equal(await postSigned(url, SECRET, event), 401, 'another secret is refused');
    const row = await waitFor(() => rowOf(stack.pool, plain.table, 'cus_Cli2'), { what: 'the row' });
    assert.equal(row.email, 'updated@example.com');
  });

  test('integrations list shows every integration, as a table or as JSON', async () => {
    assert.ok(plain && withSecret, 'needs the integrations of the tests above');
    const [human, json] = await Promise.all([hooksync('integrations', 'list'), hooksync('integrations', 'list', '--json')]);
    assert.equal(human.code, 0, human.stderr);
    for (const i of [plain, withSecret]) {
      assert.ok(human.stdout.includes(i.id) && human.stdout.includes(i.table), human.stdout);
    }
    assert.equal(json.code, 0, json.stderr);
    const list = JSON.parse(json.stdout);
    assert.deepEqual(
      list.map((i: any) => [i.id, i.service, i.table, i.webhook_url, i.has_webhook_secret]),
      [plain, withSecret].map((i) => [i.id, 'stripe_customer_v1', i.table, `${stack.apiUrl}/v1/webhooks/${i.id}`, true]),
    );
    assert.ok(!json.stdout.includes('whsec_'), 'no secret in the list');
  });

  test('integrations info shows the inbox (events waiting, the oldest\'s age) and the dead letters, as text or JSON', async () => {
    assert.ok(withSecret, 'needs the integration of the second test');
    await stack.stopWorker();
    try {
      for (const n of [1, 2]) {
        assert.equal(await postSigned(withSecret.webhook_url, SECRET, customerEvent({ type: 'customer.created', id: `cus_CliWait${n}`, created: T0 + n })), 200);
      }
      const [human, json] = await Promise.all([hooksync('integrations', 'info', withSecret.id), hooksync('integrations', 'info', withSecret.id, '--json')]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /inbox\s+│ 2 events waiting, the oldest for \d+ (ms|s)/);
      assert.match(human.stdout, /dead letters\s+│ 0/);
      assert.ok(human.stdout.includes(withSecret.table) && human.stdout.includes(withSecret.webhook_url), human.stdout);
      assert.equal(json.code, 0, json.stderr);
      const doc = JSON.parse(json.stdout);
      assert.deepEqual(
        Object.keys(doc).sort(),
        [
          'backfill', 'config', 'created_at', 'dead_letters', 'events_applied', 'events_received', 'has_webhook_secret', 'id', 'inbox_oldest_age_seconds', 'inbox_waiting',
          'last_dead_letter_at', 'last_dead_letter_error', 'last_event_at', 'rate_limit_per_second', 'rows', 'rows_deleted', 'service', 'table', 'webhook_url',
        ],
      );
      assert.equal(doc.inbox_waiting, 2);
      assert.equal(typeof doc.inbox_oldest_age_seconds, 'number');
      assert.equal(doc.dead_letters, 0);
      assert.equal(doc.backfill.state, 'never');
      assert.match(human.stdout, /backfill\s+│ none yet; start one with: hooksync integrations backfill svi_\w+ --api-key/);
      assert.ok(!json.stdout.includes(SECRET), 'no secret');
    } finally {
      await stack.startWorker();
    }
    await waitFor(async () => JSON.parse((await hooksync('integrations', 'info', withSecret.id, '--json')).stdout).inbox_waiting === 0, { what: 'the inbox applied' });
    const empty = await hooksync('integrations', 'info', withSecret.id);
    assert.match(empty.stdout, /inbox\s+│ empty/);
  });

  test('a dead letter shows in info; integrations retry-failed applies it again once the cause is gone', async () => {
    assert.ok(withSecret, 'needs the integration of the second test');
    await admin.query(`ALTER TABLE ${schema}.${withSecret.table} ADD CONSTRAINT no_mallory CHECK (email IS DISTINCT FROM 'mallory@example.com')`);
    const event = customerEvent({ type: 'customer.created', id: 'cus_CliDead1', created: T0, email: 'mallory@example.com' });
    assert.equal(await postSigned(withSecret.webhook_url, SECRET, event), 200);
    const info = await waitFor(async () => {
      const doc = JSON.parse((await hooksync('integrations', 'info', withSecret.id, '--json')).stdout);
      return doc.dead_letters === 1 && doc;
    }, { what: 'the dead letter', timeoutMs: 60_000, intervalMs: 500 });
    assert.match(info.last_dead_letter_error, /violates check constraint "no_mallory"/);
    const human = await hooksync('integrations', 'info', withSecret.id);
    assert.match(human.stdout, /dead letters\s+│ 1; last at .*no_mallory/);
    assert.ok(human.stdout.includes(`hooksync integrations retry-failed ${withSecret.id}`), human.stdout);

    const refused = await hooksync('integrations', 'retry-failed', withSecret.id, '--json');
    assert.equal(refused.code, 0, refused.stderr);
    assert.deepEqual(JSON.parse(refused.stdout), { id: withSecret.id, requeued: 1, done: 0, failed_again: 1, waiting: 0, woken: true });

    await admin.query(`ALTER TABLE ${schema}.${withSecret.table} DROP CONSTRAINT no_mallory`);
    const fixed = await hooksync('integrations', 'retry-failed', withSecret.id);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(fixed.stdout.trim(), `Put 1 dead letter of ${withSecret.id} back into the inbox: 1 applied, 0 refused again, 0 still waiting.`);
    const row = await rowOf(stack.pool, withSecret.table, 'cus_CliDead1');
    assert.equal(row.email, 'mallory@example.com');
    const none = await hooksync('integrations', 'retry-failed', withSecret.id);
    assert.equal(none.stdout.trim(), `${withSecret.id} has no dead letters.`);
    const unknown = await hooksync('integrations', 'info', 'svi_doesnotexist');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: no integration svi_doesnotexist$/m);
  });

  test('a bad secret or an unknown service: a clear error, exit code 1, and nothing created', async () => {
    const before = await snapshot();
    const [badSecret, badSecretJson, unknown, badUpdate, unknownId] = await Promise.all([
      hooksync('integrations', 'create', 'stripe_customer_v1', '--webhook-secret', 'sk_live_notawebhooksecret'),
      hooksync('integrations', 'create', 'stripe_customer_v1', '--webhook-secret', 'whsec_', '--json'),
      hooksync('integrations', 'create', 'shopify_order_v1'),
      hooksync('integrations', 'update', withSecret.id, '--webhook-secret', 'not a secret'),
      hooksync('integrations', 'update', 'svi_doesnotexist', '--webhook-secret', SECRET),
    ]);

    assert.equal(badSecret.code, 1);
    assert.equal(badSecret.stdout, '');
    assert.match(badSecret.stderr, /^error: a Stripe webhook secret looks like whsec_…$/m);

    assert.equal(badSecretJson.code, 1);
    assert.deepEqual(JSON.parse(badSecretJson.stdout), { error: { code: 'invalid', detail: 'a Stripe webhook secret looks like whsec_…' } });

    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /^error: unknown integration "shopify_order_v1"; available: stripe_customer_v1, github_issue_v1, standard_webhooks_v1, hmac_v1$/m);

    assert.equal(badUpdate.code, 1);
    assert.match(badUpdate.stderr, /^error: a Stripe webhook secret looks like whsec_…$/m);
    assert.equal(unknownId.code, 1);
    assert.match(unknownId.stderr, /^error: no integration svi_doesnotexist$/m);

    assert.deepEqual(await snapshot(), before, 'no integration, no table, no secret changed');
  });
});

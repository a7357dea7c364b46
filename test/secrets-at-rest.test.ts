import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { loadBackfillApiKey, saveBackfillApiKey } from '../src/db/backfill-credentials';
import { createIntegration } from '../src/services/integrations';
import { triggerTarget } from '../src/services/target-signals';
import { createKeyring, generateKey } from '../src/secrets/keyring';
import { freshDatabase, startStack, waitFor, type Stack } from './support/harness';
import { assertNoSecret, HOOKSYNC_BIN, ROOT, runCli, secretForms, stackEnv, type CliResult } from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { sqlDump } from './support/sql-dump';
import { customerEvent, postEvent } from './support/stripe';

/**
 * Secrets at rest: webhook secrets, receivers' credentials and signing secrets are sealed under
 * HOOKSYNC_ENCRYPTION_KEY. A database of this file's own: once it holds sealed secrets, processes
 * without the key refuse to start, which other files sharing a database must not meet.
 */

const KEY1 = generateKey();
const KEY2 = generateKey();
const PASSWORD = 'Pw-at-rest-Qm7xV2nL9s';
const WEBHOOK_SECRET = 'whsec_at_rest_secret_5fGh8JkL0pQr';
const BACKFILL_KEY = 'sk_test_backfill_at_rest_W3e4R5t6';
const OLD_SECRET = 'whsec_stored_before_encryption_Zx81';

/** `hooksync api` or `hooksync worker` as a child process. */
function startProcess(command: 'api' | 'worker', env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [HOOKSYNC_BIN, command], { cwd: ROOT, env: { ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('secrets at rest', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let stack: Stack;
  let receiver: Receiver;
  let integrationId: string;
  let table: string;
  let targetId: string;
  let signingSecret: string;
  const outputs: string[] = [];

  const env = (key: string | undefined, extra: Record<string, string> = {}) => stackEnv(stack, { HOOKSYNC_ENCRYPTION_KEY: key, ...extra });
  const cli = async (args: string[], key: string | undefined, opts: { stdin?: string } = {}) => {
    const r = await runCli(args, { env: env(key), stdin: opts.stdin });
    outputs.push(`$ hooksync ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const ok = (r: CliResult) => assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const stored = async () =>
    (
      await stack.pool.query<{ value: string }>(
        `SELECT webhook_secret AS value FROM integrations WHERE webhook_secret IS NOT NULL
         UNION ALL SELECT url FROM sync_targets
         UNION ALL SELECT signing_secret FROM sync_targets WHERE signing_secret IS NOT NULL
         UNION ALL SELECT signing_secret_previous FROM sync_targets WHERE signing_secret_previous IS NOT NULL
         UNION ALL SELECT backfill_api_key FROM integrations WHERE backfill_api_key IS NOT NULL`,
      )
    ).rows.map((r) => r.value);
  /** Every row of hooksync's tables, and the workflows of this database's integrations: what a refused request must leave as it is. */
  const everything = async () => {
    const tables = await Promise.all(['integrations', 'sync_targets'].map(async (t) => (await stack.pool.query(`SELECT * FROM ${t} ORDER BY id`)).rows));
    const workflows: string[] = [];
    for (const { id } of tables[0]!) {
      for await (const wf of stack.temporal.client.workflow.list({ query: `HooksyncIntegrationId = '${id}'` })) workflows.push(`${wf.workflowId} ${wf.status.name}`);
    }
    return JSON.stringify({ tables, workflows: workflows.sort() });
  };
  const deliverEvent = async (id: string) => {
    const event = customerEvent({ type: 'customer.created', id, created: Math.floor(Date.now() / 1000), email: `${id}@example.com` });
    assert.equal((await postEvent(stack.apiUrl, integrationId, event, WEBHOOK_SECRET)).status, 200, 'the webhook secret opens: the event is verified');
    // Applied by the ingest workflow first, then delivered at once (the period is an hour).
    await waitFor(async () => (await stack.pool.query(`SELECT 1 FROM ${table} WHERE stripe_id = $1`, [id])).rowCount === 1, { what: `${id} applied` });
    await triggerTarget(stack.deps, targetId);
    return waitFor(() => Promise.resolve(receiver.accepted().find((r) => r.body?.rows?.some((row: any) => row.stripe_id === id))), { what: `${id} delivered` });
  };

  before(async () => {
    db = await freshDatabase();
    [stack, receiver] = await Promise.all([
      // The servers accept both keys throughout (KEY1 seals), as they do while a rotation is under way.
      startStack({ env: { DATABASE_URL: db.url, HOOKSYNC_ENCRYPTION_KEY: `${KEY1},${KEY2}` } }),
      startReceiver({ user: 'restuser', password: PASSWORD }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
    await db?.drop();
  });

  test('a dump (every table, sequence and view, through SQL) holds none of the secrets in clear; the sealed ones open for webhooks and deliveries', async () => {
    const created = await cli(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', '-', '--json'], KEY1, { stdin: `${WEBHOOK_SECRET}\n` });
    ok(created);
    ({ id: integrationId, table } = JSON.parse(created.stdout));
    const target = await cli(['httpsync', 'create', integrationId, '--url', '-', '--period', '3600', '--json'], KEY1, { stdin: `${receiver.url}\n` });
    ok(target);
    ({ id: targetId, signing_secret: signingSecret } = JSON.parse(target.stdout));

    const page = await deliverEvent('cus_rest_1');
    assert.ok(page.authorized, 'the sealed credentials open for the delivery');
    assert.deepEqual(new Webhook(signingSecret).verify(page.raw, page.headers as Record<string, string>), page.body);

    const values = await stored();
    assert.equal(values.length, 3);
    for (const v of values) assert.ok(v.startsWith(`enc:v1:${createKeyring(KEY1).currentKeyId}:`), `sealed under the key: ${v.slice(0, 20)}…`);
    // The backfill's upstream key is one more secret column, stored the same way.
    assert.ok(await saveBackfillApiKey(stack.pool, stack.deps.keyring, integrationId, BACKFILL_KEY));
    assert.equal(await loadBackfillApiKey(stack.pool, stack.deps.keyring, integrationId), BACKFILL_KEY);
    const dump = await sqlDump(db.url);
    assertNoSecret(dump, [BACKFILL_KEY], 'the SQL dump');
    assert.ok(dump.includes(table) && dump.includes(targetId), 'the dump is of this database');
    assert.ok(dump.includes(`https://***:***@127.0.0.1:${new URL(receiver.endpoint).port}/sync`), 'the masked URL is kept for display');
    assertNoSecret(dump, [WEBHOOK_SECRET, WEBHOOK_SECRET.slice(6), ...secretForms('restuser', PASSWORD), signingSecret, signingSecret.slice(6), KEY1], 'the SQL dump');
    assertNoSecret(outputs.join('\n'), [PASSWORD, WEBHOOK_SECRET], 'the CLI output');
  });

  test('secrets stored in clear before are sealed when a process first starts with the key', async () => {
    // As an older version (or one without a key) stored it.
    const old = await createIntegration({ ...stack.deps, keyring: undefined }, { service: 'stripe_customer_v1', webhookSecret: OLD_SECRET });
    const clear = await stack.pool.query('SELECT webhook_secret FROM integrations WHERE id = $1', [old.id]);
    assert.equal(clear.rows[0].webhook_secret, OLD_SECRET);
    const api = startProcess('api', env(KEY1));
    let sealed: string;
    try {
      sealed = await waitFor(
        async () => {
          const v = (await stack.pool.query('SELECT webhook_secret FROM integrations WHERE id = $1', [old.id])).rows[0].webhook_secret as string;
          return v.startsWith('enc:v1:') && v;
        },
        { timeoutMs: 60_000, what: 'the clear secret sealed by `hooksync api` at start' },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${api.output()}`);
      });
      assert.equal(api.child.exitCode, null, `the api runs: ${api.output()}`);
    } finally {
      api.child.kill('SIGTERM');
      await api.exited;
    }
    assert.equal(createKeyring(KEY1).open(sealed, `integrations.webhook_secret:${old.id}`), OLD_SECRET);
    assertNoSecret(await sqlDump(db.url), [OLD_SECRET], 'the SQL dump');
  });

  test('rotate-encryption-key re-seals every secret under the new key while the old one still opens; then the new key alone works', async () => {
    await cli(['httpsync', 'rotate-signing-secret', targetId], KEY1).then(ok); // a previous signing secret, too
    const rotated = await cli(['rotate-encryption-key', '--json'], `${KEY2},${KEY1}`);
    ok(rotated);
    const report = JSON.parse(rotated.stdout);
    const key2 = createKeyring(KEY2).currentKeyId;
    assert.equal(report.key_id, key2);
    const byColumn = Object.fromEntries(report.columns.map((c: any) => [c.column, c]));
    assert.deepEqual(byColumn['integrations.webhook_secret'], { column: 'integrations.webhook_secret', sealed: 0, resealed: 2, unchanged: 0, unreadable: 0 });
    for (const column of ['sync_targets.url', 'sync_targets.signing_secret', 'sync_targets.signing_secret_previous', 'integrations.backfill_api_key']) {
      assert.deepEqual(byColumn[column], { column, sealed: 0, resealed: 1, unchanged: 0, unreadable: 0 });
    }
    for (const v of await stored()) assert.ok(v.startsWith(`enc:v1:${key2}:`));
    // Run again: nothing left to do.
    const again = JSON.parse((await cli(['rotate-encryption-key', '--json'], `${KEY2},${KEY1}`)).stdout);
    assert.ok(again.columns.every((c: any) => c.resealed === 0 && c.sealed === 0));

    // The old key alone opens nothing any more: rotation reports the values as unreadable, changes none, and fails.
    const before = await everything();
    const withOld = await cli(['rotate-encryption-key', '--json'], KEY1);
    assert.equal(withOld.code, 1);
    assert.equal(JSON.parse(withOld.stdout).columns.reduce((n: number, c: any) => n + c.unreadable, 0), 6);
    assert.equal(await everything(), before);

    // What was re-sealed opens: webhooks verify, deliveries arrive, signed with both signing secrets.
    const page = await deliverEvent('cus_rest_2');
    assert.ok(page.authorized);
    assert.equal((page.headers['webhook-signature'] as string).split(' ').length, 2);
    // The new key alone opens everything: a new URL is verified with a POST signed with the
    // target's secrets, and the current one is rotated again.
    const seen = receiver.requests.length;
    ok(await cli(['httpsync', 'update', targetId, '--url', '-', '--json'], KEY2, { stdin: `${receiver.url}\n` }));
    const verification = receiver.requests.slice(seen).find((r) => r.headers['hooksync-verification'])!;
    assert.equal((verification.headers['webhook-signature'] as string).split(' ').length, 2);
    const again2 = await cli(['httpsync', 'rotate-signing-secret', targetId, '--json'], KEY2);
    ok(again2);
    for (const v of await stored()) assert.ok(v.startsWith(`enc:v1:${key2}:`), 'what the new key wrote is sealed under it');
  });

  test('without the key, api, worker and the CLI refuse to start, naming HOOKSYNC_ENCRYPTION_KEY, and change nothing', async () => {
    const before = await everything();
    const requestsBefore = receiver.requests.length;
    for (const command of ['api', 'worker'] as const) {
      const p = startProcess(command, env(undefined));
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
      const code = await p.exited;
      clearTimeout(timer);
      assert.equal(code, 1, `${command} refused to start: ${p.output()}`);
      assert.match(p.output(), /HOOKSYNC_ENCRYPTION_KEY is not set/);
    }
    const refused = [
      await cli(['integrations', 'create', 'stripe_customer_v1', '--json'], undefined),
      await cli(['integrations', 'update', integrationId, '--webhook-secret', '-'], undefined, { stdin: 'whsec_another_one_123\n' }),
      await cli(['httpsync', 'create', integrationId, '--url', '-', '--json'], undefined, { stdin: `${receiver.url}\n` }),
      await cli(['httpsync', 'rotate-signing-secret', targetId], undefined),
      await cli(['rotate-encryption-key'], undefined),
    ];
    for (const r of refused) {
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /HOOKSYNC_ENCRYPTION_KEY is not set/);
    }
    // A malformed key is refused as such.
    const bad = await cli(['httpsync', 'list'], 'not-a-key');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /HOOKSYNC_ENCRYPTION_KEY/);
    assert.equal(receiver.requests.length, requestsBefore, 'no verification POST was sent');
    assert.equal(await everything(), before, 'no row changed and no workflow started');
  });

  test('the CLI beside `hooksync dev` finds the key dev keeps in its state folder', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-dev-key-'));
    try {
      fs.writeFileSync(path.join(home, 'encryption.key'), `${KEY2}\n`, { mode: 0o600 });
      fs.writeFileSync(
        path.join(home, 'dev.json'),
        JSON.stringify({ databaseUrl: db.url, temporalAddress: stack.config.TEMPORAL_ADDRESS, apiUrl: stack.apiUrl, pid: process.pid }),
      );
      const r = await runCli(['httpsync', 'rotate-signing-secret', targetId, '--json'], {
        env: stackEnv(stack, { HOOKSYNC_ENCRYPTION_KEY: undefined, DATABASE_URL: undefined, HOOKSYNC_HOME: home }),
      });
      ok(r);
      assert.match(JSON.parse(r.stdout).signing_secret, /^whsec_/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

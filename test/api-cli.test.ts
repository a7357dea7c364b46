import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../src/ports';
import { startStack, waitFor, type Stack } from './support/harness';
import { acceptedPages, HOOKSYNC_BIN, insertCustomers, keysOf, ROOT, runCli, stackEnv, WEBHOOK_SECRET, type CliResult } from './support/httpsync';
import { customerEvent } from './support/stripe';
import { startListServer, type ListServer } from './support/list-server';
import { startReceiver, type Receiver } from './support/receiver';
import { migratedSchema, type Schema } from './support/database';

/**
 * The CLI through the management API (HOOKSYNC_API_URL + HOOKSYNC_API_TOKEN): with DATABASE_URL and
 * TEMPORAL_ADDRESS pointing nowhere, every command still works, since only the API reaches them;
 * errors are the same as without the API, and a wrong token is refused with exit code 1.
 */

const OLD_TOKEN = 'api-cli-old-token-0123456789';
const NEW_TOKEN = 'api-cli-new-token-9876543210';
const LIST_API_KEY = 'sk_test_apiCliBackfill4Rt8Zq';

describe('the CLI through the management API', () => {
  let stack: Stack;
  let receiver: Receiver;
  let lister: ListServer;

  /** The CLI's environment: the API and a token, and a database and Temporal that do not answer. */
  const remoteEnv = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'warn',
    DATABASE_URL: 'postgres://nobody@127.0.0.1:1/nowhere',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    HOOKSYNC_API_URL: stack.apiUrl,
    HOOKSYNC_API_TOKEN: NEW_TOKEN,
    ...extra,
  });
  const cli = (args: string[], env = remoteEnv()) => runCli(args, { env });
  const ok = (r: CliResult) => {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const json = async (args: string[]) => JSON.parse(ok(await cli([...args, '--json'])).stdout);
  let own: Schema | undefined;
  const count = async (table: string) => Number((await stack.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);

  before(async () => {
    // Two tokens, as during a rotation: the CLI has the new one.
    // A schema of its own: "nothing created" counts rows that other files, running beside it, do not add to.
    own = await migratedSchema(process.env.DATABASE_URL!, 'apicli');
    [stack, receiver, lister] = await Promise.all([
      startStack({ env: { DATABASE_URL: own.url, HOOKSYNC_API_TOKEN: `${OLD_TOKEN},${NEW_TOKEN}` } }),
      startReceiver(),
      startListServer({ apiKey: LIST_API_KEY, items: [] }),
    ]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close(), lister?.close()]);
    await own?.drop();
  });

  test('creates, lists, shows, triggers, changes and deletes without database or Temporal credentials', async () => {
    const integration = await json(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', WEBHOOK_SECRET]);
    assert.match(integration.id, /^svi_/);
    assert.deepEqual(Object.keys(integration).sort(), ['id', 'service', 'table', 'webhook_url']);
    assert.equal((await stack.pool.query('SELECT service FROM integrations WHERE id = $1', [integration.id])).rows[0]?.service, 'stripe_customer_v1');
    assert.ok((await json(['integrations', 'list'])).some((i: { id: string }) => i.id === integration.id));
    const human = ok(await cli(['integrations', 'info', integration.id])).stdout;
    assert.match(human, /empty: every accepted event is applied/);
    assert.equal((await json(['integrations', 'info', integration.id])).dead_letters, 0);
    assert.equal((await json(['integrations', 'retry-failed', integration.id, '--wait', '0'])).requeued, 0);
    assert.equal((await json(['integrations', 'update', integration.id, '--rate-limit', '50'])).rate_limit_per_second, 50);

    // The verification POST goes out from the API, not from the CLI.
    const target = await json(['httpsync', 'create', integration.id, '--url', receiver.url, '--period', '3600']);
    assert.match(target.id, /^hst_/);
    assert.ok(!JSON.stringify(target).includes(new URL(receiver.url).password), 'the password is masked');
    assert.deepEqual((await json(['httpsync', 'list', '--integration', integration.id])).map((t: { id: string }) => t.id), [target.id]);

    const keys = keysOf('cus_apicli', 5);
    await insertCustomers(stack.pool, integration.table, keys);
    ok(await cli(['httpsync', 'trigger', target.id]));
    await waitFor(async () => acceptedPages(receiver).flatMap((p) => p.body.rows).length >= keys.length, { what: 'the rows at the receiver' });
    const info = await waitFor(
      async () => {
        const i = await json(['httpsync', 'info', target.id]);
        return i.rows_delivered >= keys.length ? i : undefined;
      },
      { what: 'info to show the delivered rows' },
    );
    assert.equal(info.state, 'waiting');
    assert.match(ok(await cli(['httpsync', 'status', target.id])).stdout, /5 rows in 1 page/);

    assert.equal((await json(['httpsync', 'update', target.id, '--page-size', '50'])).page_size, 50);
    assert.equal((await json(['httpsync', 'pause', target.id])).paused, true);
    assert.equal((await json(['httpsync', 'resume', target.id])).paused, false);
    assert.equal((await json(['httpsync', 'restart', target.id])).was, 'RUNNING');
    assert.equal((await json(['httpsync', 'reset', target.id, '--from-start'])).workflow_told, true);
    await waitFor(async () => acceptedPages(receiver).flatMap((p) => p.body.rows).length >= 2 * keys.length, { what: 'the rows again after the reset' });
    ok(await cli(['httpsync', 'delete', target.id]));
    assert.notEqual((await stack.pool.query('SELECT deleted_at FROM sync_targets WHERE id = $1', [target.id])).rows[0].deleted_at, null);
  });

  test('secrets from stdin and the environment, signing secrets, backfill and delete go through the API too', async () => {
    // The webhook secret from stdin, read by the CLI and sent in the request body.
    const created = ok(await runCli(['integrations', 'create', 'stripe_customer_v1', '--webhook-secret', '-', '--json'], { env: remoteEnv(), stdin: `${WEBHOOK_SECRET}\n` }));
    const integration = JSON.parse(created.stdout);
    assert.equal((await json(['integrations', 'info', integration.id])).has_webhook_secret, true);
    assert.ok(!created.stderr.includes(WEBHOOK_SECRET), 'the secret is not echoed');

    // The URL from HOOKSYNC_TARGET_URL; the answer carries the signing secret, this once.
    const made = ok(await cli(['httpsync', 'create', integration.id, '--period', '3600', '--json'], remoteEnv({ HOOKSYNC_TARGET_URL: receiver.url })));
    const target = JSON.parse(made.stdout);
    assert.match(target.signing_secret, /^whsec_/);
    assert.ok(!made.stdout.includes(new URL(receiver.url).password), 'the password is masked');
    assert.equal((await json(['httpsync', 'info', target.id])).signing_secret, undefined, 'shown only at creation');
    const rotated = await json(['httpsync', 'rotate-signing-secret', target.id]);
    assert.match(rotated.signing_secret, /^whsec_/);
    assert.notEqual(rotated.signing_secret, target.signing_secret);
    assert.ok(Date.parse(rotated.previous_secret_expires_at) > Date.now());

    // A backfill started, waited for and shown through the API.
    lister.items = Array.from({ length: 7 }, (_, i) => customerEvent({ type: 'customer.created', id: `cus_apiclibf${i}`, created: 1_700_000_000 + i }).data.object);
    const backfill = JSON.parse(
      ok(await runCli(['integrations', 'backfill', integration.id, '--api-key', LIST_API_KEY, '--api-base', lister.url, '--wait', '--json'], { env: remoteEnv(), timeoutMs: 90_000 })).stdout,
    );
    assert.deepEqual([backfill.state, backfill.rows, backfill.started], ['done', 7, true]);
    assert.equal(await count(integration.table), 7);
    assert.match(ok(await cli(['integrations', 'info', integration.id])).stdout, /done: 1 page, 7 rows listed; 7 inserted or changed/);

    // Deleted through the API, with its target.
    const deleted = await json(['integrations', 'delete', integration.id, '--yes']);
    assert.deepEqual(deleted.targets, [target.id]);
    assert.equal((await stack.pool.query('SELECT 1 FROM integrations WHERE id = $1', [integration.id])).rowCount, 0);

    // Without a terminal and without --yes, nothing is deleted.
    const kept = await json(['integrations', 'create', 'stripe_customer_v1']);
    const refused = await cli(['integrations', 'delete', kept.id]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /without confirmation/);
    assert.equal((await stack.pool.query('SELECT 1 FROM integrations WHERE id = $1', [kept.id])).rowCount, 1);

    // rotate-encryption-key works on the database itself, never through the API.
    const local = await cli(['rotate-encryption-key'], remoteEnv({ HOOKSYNC_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }));
    assert.equal(local.code, 1);
    assert.doesNotMatch(local.stderr, /hooksync API/);
  });

  test('status --watch draws from the API and ends cleanly on Ctrl-C', async () => {
    const integration = await json(['integrations', 'create', 'stripe_customer_v1']);
    const target = await json(['httpsync', 'create', integration.id, '--url', receiver.url, '--period', '3600']);
    const child = spawn(process.execPath, [HOOKSYNC_BIN, 'httpsync', 'status', target.id, '--watch'], { cwd: ROOT, env: remoteEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await waitFor(async () => out.includes(target.id) && out.includes('0 rows waiting'), { what: `a drawn view (so far: ${out})` });
    child.kill('SIGINT');
    assert.equal(await exited, 0, out);
    assert.doesNotMatch(out, /could not read/);
  });

  test('errors are the same as without the API: message, --json code, exit code 1', async () => {
    const local = stackEnv(stack);
    for (const args of [
      ['httpsync', 'info', 'hst_doesnotexist'],
      ['integrations', 'info', 'svi_doesnotexist'],
      ['integrations', 'create', 'no_such_service'],
      ['httpsync', 'reset', 'hst_doesnotexist'],
      ['httpsync', 'reset', 'hst_doesnotexist', '--from-start'],
    ]) {
      const [viaApi, direct] = await Promise.all([cli(args), cli(args, local)]);
      assert.equal(viaApi.code, 1, `${args.join(' ')}: ${viaApi.stderr}`);
      assert.equal(viaApi.stderr, direct.stderr, args.join(' '));
      const [apiJson, directJson] = await Promise.all([cli([...args, '--json']), cli([...args, '--json'], local)]);
      assert.deepEqual(JSON.parse(apiJson.stdout), JSON.parse(directJson.stdout));
    }
    const refused = await cli(['httpsync', 'create', 'svi_doesnotexist', '--url', 'https://u:p@127.0.0.2/x']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: no integration svi_doesnotexist\n$/);
  });

  test('a wrong or missing token: a clear error, exit code 1, nothing created', async () => {
    const before = await count('integrations');
    for (const token of ['wrong-token', undefined]) {
      const r = await cli(['integrations', 'create', 'stripe_customer_v1', '--json'], remoteEnv({ HOOKSYNC_API_TOKEN: token }));
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: the hooksync API at http:\/\/127\.0\.0\.1:\d+\/ refused the token: set HOOKSYNC_API_TOKEN to one of the tokens the API was started with\n$/);
      assert.equal(JSON.parse(r.stdout).error.code, 'unauthorized');
    }
    // The old token still works during the rotation.
    ok(await cli(['integrations', 'list'], remoteEnv({ HOOKSYNC_API_TOKEN: OLD_TOKEN })));
    assert.equal(await count('integrations'), before);
  });

  test('an API that does not answer, or a URL that is not one: exit code 1 with the reason', async () => {
    const closed = await freePort('127.0.0.1');
    const down = await cli(['integrations', 'list'], remoteEnv({ HOOKSYNC_API_URL: `http://127.0.0.1:${closed}` }));
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`^error: the hooksync API at http://127\\.0\\.0\\.1:${closed}/ is unreachable: .*ECONNREFUSED`));
    const bad = await cli(['integrations', 'list'], remoteEnv({ HOOKSYNC_API_URL: 'not a url' }));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /HOOKSYNC_API_URL is not a URL/);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import type { IntegrationView } from '../src/services/integrations';
import { triggerTarget } from '../src/services/target-signals';
import { startStack, waitFor, type Stack } from './support/harness';
import { acceptedPages, allText, insertCustomers, keysOf, newIntegration, runCli, stackEnv, syncPages, type CliResult } from './support/httpsync';
import { startReceiver, type ReceivedRequest, type Receiver } from './support/receiver';

/**
 * Signed deliveries: every POST a receiver gets carries the Standard Webhooks headers, and a
 * receiver verifying with the `standardwebhooks` package (as the README shows) accepts them:
 * the verification POST, every page, a retried page (same webhook-id), and across a rotation of
 * the signing secret (both secrets verify while they overlap, then only the new one).
 */
describe('signed deliveries (Standard Webhooks)', () => {
  let stack: Stack;
  let receiver: Receiver;
  let integration: IntegrationView;
  let targetId: string;
  let secret: string;

  const cli = (args: string[], opts: { stdin?: string } = {}) => runCli(args, { env: stackEnv(stack), stdin: opts.stdin });
  const ok = (r: CliResult) => assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const headersOf = (r: ReceivedRequest) => r.headers as Record<string, string>;
  /** What the receiver's `standardwebhooks` check says: the verified body, or the error it threw. */
  const verify = (withSecret: string, r: ReceivedRequest) => new Webhook(withSecret).verify(r.raw, headersOf(r));
  const targetRow = async () => (await stack.pool.query('SELECT * FROM sync_targets WHERE id = $1', [targetId])).rows[0];
  const workflowIds = async () => {
    const ids: string[] = [];
    for await (const wf of stack.temporal.client.workflow.list({ query: `HooksyncIntegrationId = '${integration.id}'` })) ids.push(wf.workflowId);
    return ids.sort();
  };
  /** Inserts rows and delivers them; resolves with the pages accepted for them. */
  const deliver = async (prefix: string, n: number) => {
    const before = acceptedPages(receiver).length;
    await insertCustomers(stack.pool, integration.table, keysOf(prefix, n));
    await triggerTarget(stack.deps, targetId);
    await waitFor(async () => acceptedPages(receiver).flatMap((p) => p.body.rows).filter((row: any) => row.stripe_id.startsWith(prefix)).length === n, {
      what: `${n} rows ${prefix}… delivered`,
    });
    return acceptedPages(receiver).slice(before);
  };

  before(async () => {
    [stack, receiver] = await Promise.all([startStack(), startReceiver({ user: 'signer', password: 'Pw-signing-8fJ2kq0Zr' })]);
    integration = await newIntegration(stack);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  test('create shows the signing secret once; the verification POST and every page verify with standardwebhooks, webhook-id being the page id', async () => {
    const r = await cli(['httpsync', 'create', integration.id, '--url', '-', '--page-size', '2', '--period', '3600', '--json'], { stdin: `${receiver.url}\n` });
    ok(r);
    const created = JSON.parse(r.stdout);
    targetId = created.id;
    secret = created.signing_secret;
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/, '32 random bytes, base64');
    // Shown once: neither list nor info shows it again.
    for (const args of [['httpsync', 'info', targetId, '--json'], ['httpsync', 'list', '--json']]) {
      const again = await cli(args);
      ok(again);
      assert.ok(!again.stdout.includes(secret.slice(6)), `${args.join(' ')} does not show the signing secret`);
    }

    const verification = receiver.requests.find((q) => q.headers['hooksync-verification'] === '1')!;
    assert.ok(verification, 'the verification POST arrived');
    const h = headersOf(verification);
    assert.match(h['webhook-id']!, new RegExp(`^${targetId}:`));
    assert.ok(Math.abs(Number(h['webhook-timestamp']) - Date.now() / 1000) < 60, 'webhook-timestamp is unix seconds of the attempt');
    assert.match(h['webhook-signature']!, /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(verify(secret, verification), JSON.parse(verification.raw));
    assert.ok(verification.authorized, 'Basic Auth stays');

    const pages = await deliver('cus_sig_a', 5);
    assert.equal(pages.length, 3);
    for (const p of pages) {
      assert.equal(p.headers['webhook-id'], p.pageId, 'webhook-id is the page id');
      assert.deepEqual(verify(secret, p), p.body);
      assert.ok(p.authorized);
    }
    // An altered body, or another secret, does not verify.
    assert.throws(() => new Webhook(secret).verify(pages[0]!.raw.replace('cus_sig_a', 'cus_sig_x'), headersOf(pages[0]!)), /signature/i);
    assert.throws(() => verify(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, pages[0]!), /signature/i);
  });

  test('a retried page comes again with the same webhook-id, signed again for its new timestamp', async () => {
    let failed = 0;
    receiver.respondWith((req) => {
      if (req.headers['hooksync-verification'] === undefined && failed < 2) {
        failed++;
        return { status: 503, headers: { 'retry-after': '1' } };
      }
      return { status: 200 };
    });
    try {
      const pages = await deliver('cus_sig_b', 1);
      assert.equal(pages.length, 1);
      const attempts = syncPages(receiver).filter((q) => q.headers['webhook-id'] === pages[0]!.headers['webhook-id']);
      assert.equal(attempts.length, 3, 'two refused attempts and the accepted one');
      assert.deepEqual(attempts.map((a) => a.accepted), [false, false, true]);
      for (const a of attempts) assert.deepEqual(verify(secret, a), JSON.parse(a.raw), 'every attempt verifies');
    } finally {
      receiver.respondWith(() => ({ status: 200 }));
    }
  });

  test('rotate-signing-secret: a new secret shown once; for a day both sign and either verifies, then the old one is dropped', async () => {
    const r = await cli(['httpsync', 'rotate-signing-secret', targetId, '--json']);
    ok(r);
    const rotated = JSON.parse(r.stdout);
    const fresh: string = rotated.signing_secret;
    assert.match(fresh, /^whsec_/);
    assert.notEqual(fresh, secret);
    const overlapHours = (Date.parse(rotated.previous_secret_expires_at) - Date.now()) / 3_600_000;
    assert.ok(overlapHours > 23.9 && overlapHours <= 24, `the old secret signs for 24 hours (${overlapHours} h)`);

    const during = await deliver('cus_sig_c', 1);
    const signatures = headersOf(during[0]!)['webhook-signature']!.split(' ');
    assert.equal(signatures.length, 2, 'two signatures while the secrets overlap');
    assert.deepEqual(verify(fresh, during[0]!), during[0]!.body, 'the new secret verifies');
    assert.deepEqual(verify(secret, during[0]!), during[0]!.body, 'the old secret still verifies');

    // A day later (moved in the database rather than waited for): only the new secret signs.
    await stack.pool.query(`UPDATE sync_targets SET signing_secret_previous_expires_at = now() - interval '1 second' WHERE id = $1`, [targetId]);
    const afterwards = await deliver('cus_sig_d', 1);
    assert.equal(headersOf(afterwards[0]!)['webhook-signature']!.split(' ').length, 1);
    assert.deepEqual(verify(fresh, afterwards[0]!), afterwards[0]!.body);
    assert.throws(() => verify(secret, afterwards[0]!), /signature/i, 'the old secret no longer verifies');
    const row = await targetRow();
    assert.equal(row.signing_secret_previous, null, 'the old secret is dropped');
    assert.equal(row.signing_secret_previous_expires_at, null);
    secret = fresh;
  });

  test('the management API rotates too, answering the new secret once', async () => {
    const token = 'signing-test-token-0123456789';
    const api = await startStack({ worker: false, env: { HOOKSYNC_API_TOKEN: token } });
    try {
      const res = await fetch(`${api.apiUrl}/v1/httpsync/${targetId}/rotate-signing-secret`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { signing_secret: string; previous_secret_expires_at: string };
      assert.notEqual(body.signing_secret, secret);
      const page = (await deliver('cus_sig_e', 1))[0]!;
      assert.deepEqual(verify(body.signing_secret, page), page.body);
      assert.deepEqual(verify(secret, page), page.body);
      secret = body.signing_secret;
    } finally {
      await api.close();
    }
  });

  test('a refused rotation (unknown or deleted target) changes no row and starts no workflow', async () => {
    const rows = async () => allText((await stack.pool.query('SELECT * FROM sync_targets WHERE integration_id = $1 ORDER BY id', [integration.id])).rows);
    const [rowsBefore, workflowsBefore] = [await rows(), await workflowIds()];
    const unknown = await cli(['httpsync', 'rotate-signing-secret', 'hst_doesnotexist', '--json']);
    assert.equal(unknown.code, 1);
    assert.equal(JSON.parse(unknown.stdout).error.code, 'not_found');
    assert.match(unknown.stderr, /no HTTP Sync target hst_doesnotexist/);

    const del = await cli(['httpsync', 'delete', targetId]);
    ok(del);
    const deletedRows = await rows();
    const gone = await cli(['httpsync', 'rotate-signing-secret', targetId]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no HTTP Sync target/);
    assert.equal(await rows(), deletedRows, 'the deleted target keeps its secrets as they were');
    assert.notEqual(rowsBefore, deletedRows);
    assert.deepEqual(await workflowIds(), workflowsBefore, 'no workflow was started');
  });
});

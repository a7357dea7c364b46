import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IntegrationView } from '../src/services/integrations';
import { triggerTarget } from '../src/services/target-signals';
import { startStack, waitFor, type Stack } from './support/harness';
import {
  acceptedPages,
  assertVersionsInOrder,
  explained,
  insertCustomers,
  keysOf,
  newIntegration,
  newTarget,
  syncPages,
  targetStatus,
  waitForConvergence,
} from './support/httpsync';
import { type Receiver, receiverSet, type Reply } from './support/receiver';

// Guarantee 6: a receiver that fails for a while gets the same page again (same page id, same
// rows), then the rest, nothing skipped; Retry-After is honoured.
describe('HTTP Sync retries', () => {
  let stack: Stack;
  const receivers = receiverSet();

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  /**
   * 25 rows in pages of 10 to a receiver that takes the first page, then fails the second one
   * `failures` times with `failure`, then takes everything.
   */
  async function failingFor(failure: Reply, failures: number, opts: { timeoutSeconds?: number } = {}) {
    const integration: IntegrationView = await newIntegration(stack);
    const receiver = await receivers.start();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_retry', 25));
    let pages = 0;
    let failed = 0;
    receiver.respondWith((req) => {
      if (req.headers['hooksync-verification']) return { status: 200 };
      pages++;
      if (pages >= 2 && failed < failures) {
        failed++;
        return failure;
      }
      return { status: 200 };
    });
    const target = await newTarget(stack, integration.id, receiver, { pageSize: 10, periodSeconds: 3600, timeoutSeconds: opts.timeoutSeconds ?? 60 });
    await explained(stack, target.id, waitForConvergence(stack, receiver, integration.table, { timeoutMs: 60_000 }));

    const posts = syncPages(receiver);
    // Page 1 accepted, page 2 failed `failures` times and then accepted, then page 3.
    assert.equal(posts.length, 3 + failures, posts.map((p) => `${p.status} ${p.pageId}`).join('\n'));
    const failedPosts = posts.slice(1, 1 + failures);
    const retried = posts[1 + failures]!;
    assert.ok(failedPosts.every((p) => !p.accepted));
    assert.equal(retried.accepted, true);
    for (const p of failedPosts) {
      assert.equal(p.pageId, retried.pageId, 'the same page id on every retry');
      assert.deepEqual(p.body.rows, retried.body.rows, 'the same rows on every retry');
    }
    assert.notEqual(posts[0]!.pageId, retried.pageId);
    assert.notEqual(posts.at(-1)!.pageId, retried.pageId);
    // Nothing skipped, nothing twice: 10 + 10 + 5 rows, each once, in table order.
    assert.deepEqual(acceptedPages(receiver).map((p) => p.body.rows.length), [10, 10, 5]);
    const delivered = acceptedPages(receiver).flatMap((p) => p.body.rows.map((r: any) => r.stripe_id));
    const { rows } = await stack.pool.query(`SELECT stripe_id FROM ${integration.table} ORDER BY _txid, _seq`);
    assert.deepEqual(delivered, rows.map((r) => r.stripe_id));
    assertVersionsInOrder(receiver, { strict: true });
    assert.equal(receiver.maxConcurrent, 1);

    // The workflow records the activity's result a moment after the receiver answered.
    const status = await waitFor(async () => {
      const s = await targetStatus(stack, target.id);
      return s.progress.rowsDelivered === 25 && s.state === 'waiting' ? s : undefined;
    }, { what: 'the workflow to record the delivery' });
    assert.equal(status.progress.pagesDelivered, 3);
    assert.equal(status.progress.errorCount, failures);
    assert.equal(status.retry, undefined, 'no longer retrying');
    return { receiver, posts, failedPosts, retried, status, target };
  }

  test('HTTP 500 for a while: the same page again, then the rest, with a growing backoff', async () => {
    const { failedPosts, retried, status } = await failingFor({ status: 500, body: { error: 'internal' } }, 3);
    assert.match(status.progress.lastError ?? '', /HTTP 500/);
    // Backoff: about 1 s, 2 s, 4 s (±20% jitter) between the attempts.
    const times = [...failedPosts, retried].map((p) => p.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(gaps[0]! >= 700 && gaps[1]! >= 1500 && gaps[2]! >= 3100, `gaps ${gaps.join(', ')} ms`);
    assert.ok(gaps[2]! > gaps[0]!, `gaps ${gaps.join(', ')} ms`);
  });

  test('a receiver that hangs past the target\'s timeout: the same page again, then the rest', async () => {
    const { failedPosts, status } = await failingFor({ status: 200, delayMs: 20_000 }, 2, { timeoutSeconds: 1 });
    assert.ok(failedPosts.every((p) => p.status === 0), 'the hanging requests were given up on');
    assert.match(status.progress.lastError ?? '', /no response from 127\.0\.0\.1:\d+ within 1 s/);
  });

  test('a receiver that drops the connection: the same page again, then the rest', async () => {
    const { failedPosts, status } = await failingFor({ status: 200, destroy: true }, 3);
    assert.ok(failedPosts.every((p) => p.status === 0));
    assert.match(status.progress.lastError ?? '', /request to 127\.0\.0\.1:\d+ failed/);
  });

  for (const code of [429, 503]) {
    test(`HTTP ${code} with Retry-After: 2 waits about 2 s before the retry`, async () => {
      const { failedPosts, retried } = await failingFor({ status: code, headers: { 'retry-after': '2' } }, 1);
      const gap = retried.at - failedPosts[0]!.at;
      // Without Retry-After the first retry comes after 0.8–1.2 s.
      assert.ok(gap >= 1_950 && gap < 4_500, `retried after ${gap} ms`);
    });
  }

  test('a trigger retries at once instead of waiting out the backoff', async () => {
    const integration = await newIntegration(stack);
    const receiver = await receivers.start();
    await insertCustomers(stack.pool, integration.table, keysOf('cus_retry', 3));
    receiver.respondWith((req) => (req.headers['hooksync-verification'] ? { status: 200 } : { status: 503, headers: { 'retry-after': '120' } }));
    const target = await newTarget(stack, integration.id, receiver, { periodSeconds: 3600 });
    await waitFor(async () => syncPages(receiver).length === 1, { what: 'the first failed POST' });
    const status = await waitFor(async () => {
      const s = await targetStatus(stack, target.id);
      return s.state === 'retrying' ? s : undefined;
    }, { what: 'the retrying state' });
    assert.ok(Date.parse(status.retry!.nextAttemptAt) - Date.now() > 100_000, 'the next attempt is 2 minutes away');
    receiver.respondWith(() => ({ status: 200 }));
    const triggeredAt = Date.now();
    await triggerTarget(stack.deps, target.id);
    await waitForConvergence(stack, receiver, integration.table, { timeoutMs: 15_000 });
    assert.ok(Date.now() - triggeredAt < 10_000);
    const posts = syncPages(receiver);
    assert.equal(posts.length, 2);
    assert.equal(posts[0]!.pageId, posts[1]!.pageId);
  });
});

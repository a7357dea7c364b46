import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { triggerTarget } from '../src/services/target-signals';
import { createTarget, TARGET_DEFAULTS } from '../src/services/targets';
import { startStack, waitFor, type Stack } from './support/harness';
import { insertCustomers, keysOf, newIntegration } from './support/httpsync';
import { EXAMPLES, type ReceivedPage } from './support/receiver-examples';
import { newSecret, ownSchema, pageBody, signed, type SignedPost } from './support/receiver-kit';

/**
 * Each receiver example of examples/receiver/ against real deliveries from a running hooksync
 * (API, worker, Temporal, PostgreSQL): it answers the verification POST of `httpsync create`
 * before it knows the secret, then, started again with the secret, gets every row once, in
 * order, and answers a copy of a page it processed 200 without processing it again.
 */
describe('the receiver examples, against real deliveries', () => {
  let stack: Stack;
  let schema: Awaited<ReturnType<typeof ownSchema>>;
  let pool: pg.Pool;

  before(async () => {
    [stack, schema] = await Promise.all([startStack(), ownSchema('receiver_examples')]);
    pool = schema.pool();
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), schema?.drop()]);
  });

  for (const example of EXAMPLES) {
    test(example.name, async () => {
      const integration = await newIntegration(stack);
      const pages: ReceivedPage[] = [];
      let failFirst = example.name.startsWith('node:http');
      const onPage = (page: ReceivedPage) => {
        // Once (node:http): onPage fails, the page is answered 500 and hooksync sends it again.
        if (failFirst) {
          failFirst = false;
          throw new Error('the application failed once');
        }
        pages.push(page);
      };

      const unconfigured = await example.start({ secrets: newSecret(), onPage, pool });
      const target = await createTarget(stack.deps, integration.id, { ...TARGET_DEFAULTS, url: unconfigured.url, pageSize: 2, periodSeconds: 3600 });
      await unconfigured.close();
      const receiver = await example.start({ secrets: target.signing_secret, onPage, pool, port: unconfigured.port });
      try {
        const keys = keysOf(`cus_${example.name.slice(0, 4).replace(/\W/g, '')}_`, 5);
        await insertCustomers(stack.pool, integration.table, keys);
        await triggerTarget(stack.deps, target.id);
        await waitFor(async () => pages.reduce((n, p) => n + p.rows.length, 0) >= 5, { what: `5 rows at the ${example.name} receiver` });
        assert.equal(pages.length, 3, 'pages of 2, 2 and 1 rows, each processed once');
        assert.equal(new Set(pages.map((p) => p.pageId)).size, 3);
        for (const p of pages) assert.match(p.pageId, new RegExp(`^${target.id}:`));
        if (pages[0]!.table !== '') {
          assert.deepEqual(pages.flatMap((p) => p.rows.map((r) => r.stripe_id)), keys, 'every row, in order');
          assert.ok(pages.every((p) => p.table === integration.table));
        }

        // Copies of a delivered page (as when the 2xx got lost), a forgery, and a signed body that is not a page.
        const last = pages.at(-1)!;
        const copy = signed(pageBody(last.rows.length && last.rows[0] ? last.rows : [{ stripe_id: keys[4] }], { table: integration.table }), target.signing_secret, { id: last.pageId });
        assert.equal(await postTo(receiver.url, copy), 200);
        assert.equal(await postTo(receiver.url, signed(copy.body, newSecret(), { id: `${target.id}:forged` })), 401);
        assert.equal(await postTo(receiver.url, signed('{"rows": 5}', target.signing_secret)), 400);
        assert.equal(pages.length, 3, 'none of them was processed');

        if (example.name.startsWith('node:http')) {
          const { rows } = await pool.query('SELECT stripe_id, email FROM customers WHERE stripe_id = ANY($1) ORDER BY stripe_id', [keys]);
          assert.deepEqual(rows.map((r) => r.stripe_id), keys, 'the example stored the rows');
          const recorded = await pool.query('SELECT page_id FROM hooksync_received_pages WHERE page_id = ANY($1)', [pages.map((p) => p.pageId)]);
          assert.equal(recorded.rowCount, 3, 'with their page ids');
        }
      } finally {
        await receiver.close();
      }
    });
  }
});

/** POSTs over HTTPS with the tests' CA (fetch does not read NODE_EXTRA_CA_CERTS' per-request agent, https does). */
async function postTo(url: string, p: SignedPost): Promise<number> {
  const { request } = await import('node:https');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: p.headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(p.body);
  });
}

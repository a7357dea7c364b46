import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pg from 'pg';
import { createPageHandler, pgStore } from '../receiver';
import { gate, newSecret, ownSchema, signedPage } from './support/receiver-kit';

/**
 * pgStore: a page's effects and its id commit in one transaction, so a page is processed exactly
 * once per receiver, across processes (here: two pools, each a receiver process of its own, on
 * one database) and whatever onPage does wrong.
 */
describe('pgStore', () => {
  const SECRET = newSecret();
  let schema: Awaited<ReturnType<typeof ownSchema>>;
  let processA: pg.Pool;
  let processB: pg.Pool;
  const quiet = () => {};

  before(async () => {
    schema = await ownSchema('receiver_pg');
    [processA, processB] = [schema.pool(), schema.pool()];
    await processA.query('CREATE TABLE customers (stripe_id text PRIMARY KEY, page text NOT NULL)');
  });
  after(() => schema?.drop());

  /** onPage of "the application": writes the page's rows with the client it is given. */
  const saveRows = (wait?: Promise<void>) => async (page: { rows: Array<Record<string, unknown>> }, { pageId, client }: { pageId: string; client: pg.PoolClient }) => {
    for (const row of page.rows) await client.query('INSERT INTO customers (stripe_id, page) VALUES ($1, $2)', [`${pageId}/${String(row.stripe_id)}`, pageId]);
    if (wait) await wait;
  };
  const rowsOf = async (pageId: string) => Number((await processA.query('SELECT count(*) FROM customers WHERE page = $1', [pageId])).rows[0].count);
  const recorded = async (pageId: string, table = 'hooksync_received_pages') =>
    Number((await processA.query(`SELECT count(*) FROM ${table} WHERE page_id = $1`, [pageId])).rows[0].count);

  test('creates its table when missing, also when two processes start at once; records the id with the rows', async () => {
    const a = createPageHandler({ secrets: SECRET, onPage: saveRows(), store: pgStore({ pool: processA }) });
    const b = createPageHandler({ secrets: SECRET, onPage: saveRows(), store: pgStore({ pool: processB }) });
    const [p, q] = [signedPage(SECRET, 2), signedPage(SECRET, 3)];
    const answers = await Promise.all([a(p.body, p.headers), b(q.body, q.headers)]);
    assert.deepEqual(answers.map((x) => x.status), [204, 204]);
    assert.equal(await rowsOf(p.headers['webhook-id']!), 2);
    assert.equal(await rowsOf(q.headers['webhook-id']!), 3);
    assert.equal(await recorded(p.headers['webhook-id']!), 1);
    assert.deepEqual((await b(p.body, p.headers)).status, 200, 'the other process knows it too');
  });

  test('two copies at once in two processes: one runs onPage, the other waits for its commit and answers 200', async () => {
    const g = gate();
    let calls = 0;
    const counted = (wait?: Promise<void>) => {
      const save = saveRows(wait);
      return async (page: { rows: Array<Record<string, unknown>> }, ctx: { pageId: string; client: pg.PoolClient }) => {
        calls++;
        await save(page, ctx);
      };
    };
    const a = createPageHandler({ secrets: SECRET, onPage: counted(g.opened), store: pgStore({ pool: processA }) });
    const b = createPageHandler({ secrets: SECRET, onPage: counted(g.opened), store: pgStore({ pool: processB }) });
    const p = signedPage(SECRET, 2);
    const first = a(p.body, p.headers);
    await waitUntil(() => calls === 1);
    const second = b(p.body, p.headers);
    // The second copy's INSERT of the id waits on the first's uncommitted one.
    await waitUntil(async () => (await processA.query(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO "hooksync_received_pages"%'`)).rows[0].count === '1');
    assert.equal(calls, 1);
    g.open();
    assert.deepEqual([(await first).status, (await second).status], [204, 200]);
    assert.equal(calls, 1, 'onPage ran once');
    assert.equal(await rowsOf(p.headers['webhook-id']!), 2);
  });

  test('onPage throws, or swallows a failed statement: 500, its writes and the id rolled back; the copy that comes again is processed', async () => {
    const p = signedPage(SECRET, 2);
    const id = p.headers['webhook-id']!;
    const throwing = createPageHandler({
      secrets: SECRET,
      store: pgStore({ pool: processA }),
      onError: quiet,
      onPage: async (page, ctx) => {
        await saveRows()(page, ctx);
        throw new Error('the application failed');
      },
    });
    assert.equal((await throwing(p.body, p.headers)).status, 500);
    const swallowing = createPageHandler({
      secrets: SECRET,
      store: pgStore({ pool: processA }),
      onError: quiet,
      onPage: async (page, { pageId, client }) => {
        await saveRows()(page, { pageId, client });
        await client.query('SELECT 1/0').catch(() => {});
      },
    });
    assert.equal((await swallowing(p.body, p.headers)).status, 500, 'COMMIT of a failed transaction is a rollback, not a 204');
    assert.equal(await rowsOf(id), 0);
    assert.equal(await recorded(id), 0);
    const fine = createPageHandler({ secrets: SECRET, onPage: saveRows(), store: pgStore({ pool: processB }) });
    assert.equal((await fine(p.body, p.headers)).status, 204);
    assert.equal(await rowsOf(id), 2);
    assert.equal(await recorded(id), 1);
  });

  test('the table name is checked and quoted: schema.name works, anything else is refused before a query', async () => {
    const table = `${schema.name}.Received_Pages`;
    const h = createPageHandler({ secrets: SECRET, onPage: saveRows(), store: pgStore({ pool: processA, table }) });
    const p = signedPage(SECRET, 1);
    assert.equal((await h(p.body, p.headers)).status, 204);
    assert.equal(await recorded(p.headers['webhook-id']!, `${schema.name}."Received_Pages"`), 1);
    for (const bad of ['pages; DROP TABLE customers', 'a.b.c', '"x"', '', 'with-dash', 'x'.repeat(64)]) {
      assert.throws(() => pgStore({ pool: processA, table: bad }), TypeError, bad);
    }
    assert.equal(Number((await processA.query('SELECT count(*) FROM customers')).rows[0].count) > 0, true);
  });
});

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IntegrationView } from '../src/services/integrations';
import { triggerTarget } from '../src/services/target-signals';
import { pageId } from '../src/delivery/page';
import { startStack, waitFor, type Stack } from './support/harness';
import { acceptedPages, newIntegration, newTarget, runCli, stackEnv, syncPages, type CliResult } from './support/httpsync';
import { type Receiver, receiverSet } from './support/receiver';

// Issue 21, point 2: per-target filters. Through the real CLI (a child process), the worker, the
// Temporal workflows, PostgreSQL and an HTTPS receiver.
describe('HTTP Sync filters: --match, --fields, --unmatched', () => {
  let stack: Stack;
  const receivers = receiverSet();
  const receiver = receivers.start;
  const ALWAYS = ['deleted', 'pk', 'stripe_id', 'updated'];

  const cli = (args: string[], opts: { stdin?: string } = {}): Promise<CliResult> => runCli(['httpsync', ...args], { env: stackEnv(stack), stdin: opts.stdin });
  const ok = (r: CliResult) => {
    assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : r.stdout;
  };
  const refused = (r: CliResult, pattern: RegExp) => {
    assert.notEqual(r.code, 0, `expected a refusal, got exit 0: ${r.stdout}`);
    assert.match(r.stderr, pattern);
  };

  /** Rows inserted with SQL (the table's defaults stamp _txid/_seq), one transaction, in the order given. */
  const insert = async (i: IntegrationView, rows: Array<[key: string, data: Record<string, unknown>]>) => {
    await stack.pool.query(
      `INSERT INTO ${i.table} (stripe_id, balance, email, name, updated, data)
       SELECT k, 1, k || '@example.com', 'customer ' || k, clock_timestamp(), d::jsonb
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(k, d, n) ORDER BY n`,
      [rows.map(([k]) => k), rows.map(([k, d]) => JSON.stringify({ id: k, object: 'customer', ...d }))],
    );
  };
  /** A new version of a row, re-stamped for the cursor as the upsert does. */
  const change = async (i: IntegrationView, key: string, data: Record<string, unknown>) => {
    await stack.pool.query(
      `UPDATE ${i.table} SET data = $2::jsonb, balance = balance + 1, updated = clock_timestamp(),
              _txid = pg_current_xact_id(), _seq = nextval('${i.table}_seq'), _changed_at = now()
        WHERE stripe_id = $1`,
      [key, JSON.stringify({ id: key, object: 'customer', ...data })],
    );
  };
  const positions = async (i: IntegrationView) =>
    (await stack.pool.query<{ k: string; txid: string; seq: string }>(`SELECT stripe_id AS k, _txid::text AS txid, _seq::text AS seq FROM ${i.table} ORDER BY _txid, _seq`)).rows;
  /** Waits until the database's cursor of the target has passed every row of the table. */
  const cursorPassedAll = (i: IntegrationView, targetId: string) =>
    waitFor(
      async () =>
        (
          await stack.pool.query(
            `SELECT NOT EXISTS (SELECT 1 FROM ${i.table} r, sync_targets t WHERE t.id = $1 AND (r._txid, r._seq) > (t.cursor_txid, t.cursor_seq)) AS passed`,
            [targetId],
          )
        ).rows[0].passed,
      { what: 'the cursor to pass every row', timeoutMs: 30_000 },
    );
  const counters = async (targetId: string) =>
    (await stack.pool.query('SELECT pages_delivered::int AS pages, post_count::int AS posts FROM sync_targets WHERE id = $1', [targetId])).rows[0];

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await Promise.all([stack?.close(), receivers.close()]);
  });

  test('--match delivers only rows whose data contains the JSON; --fields only the columns and pointers asked for, nested, a missing one left out; info --json shows the filter', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insert(integration, [
      ['cus_F1', { metadata: { plan: 'pro' }, address: { city: 'Lyon', line1: 'x' } }],
      ['cus_F2', { metadata: { plan: 'free' }, address: { city: 'Oslo' } }],
      ['cus_F3', { metadata: { plan: 'pro', seats: 3 } }],
      ['cus_F4', { metadata: {} }],
    ]);
    const created = ok(
      await cli(['create', integration.id, '--match', '{"metadata": {"plan": "pro"}}', '--fields', 'email,/data/address/city,email', '--json'], { stdin: `${rcv.url}\n` }),
    );
    assert.deepEqual(created.match, { metadata: { plan: 'pro' } });
    assert.deepEqual(created.fields, ['email', '/data/address/city'], 'stored once each');
    assert.equal(created.unmatched, 'skip');

    await waitFor(async () => acceptedPages(rcv).length >= 1, { what: 'the first page' });
    await cursorPassedAll(integration, created.id);
    const rows = rcv.rows();
    assert.deepEqual(rows.map((r) => r.stripe_id), ['cus_F1', 'cus_F3'], 'only the rows that match, in order');
    assert.deepEqual(Object.keys(rows[0]).sort(), [...ALWAYS, 'data', 'email'].sort());
    assert.deepEqual(rows[0].data, { address: { city: 'Lyon' } }, 'a pointer arrives nested where it was, alone');
    assert.equal(rows[0].email, 'cus_F1@example.com');
    assert.equal(rows[0].deleted, false);
    assert.deepEqual(Object.keys(rows[1]).sort(), [...ALWAYS, 'email'].sort(), 'a pointer with nothing there is left out');

    const info = ok(await cli(['info', created.id, '--json']));
    assert.deepEqual(info.match, { metadata: { plan: 'pro' } });
    assert.deepEqual(info.fields, ['email', '/data/address/city']);
    assert.equal(info.unmatched, 'skip');
    assert.deepEqual(info.filter_since, { txid: '0', seq: '0' }, 'set at creation: from the start');
    assert.match(ok(await cli(['info', created.id])), /filter.*rows whose data contains \{"metadata":\{"plan":"pro"\}\}/s);

    // A row that changes and no longer matches is not delivered (skip is the default).
    const before = syncPages(rcv).length;
    await change(integration, 'cus_F1', { metadata: { plan: 'free' } });
    await triggerTarget(stack.deps, created.id);
    await cursorPassedAll(integration, created.id);
    assert.equal(syncPages(rcv).length, before, 'no POST for a row that stopped matching');

    // '' clears both: from the cursor at that moment on, whole rows of every kind.
    const cleared = ok(await cli(['update', created.id, '--match', '', '--fields', '', '--json']));
    assert.equal(cleared.match, null);
    assert.equal(cleared.fields, null);
    const info2 = ok(await cli(['info', created.id, '--json']));
    assert.deepEqual(info2.filter_since, info2.cursor, 'the filter applies from the cursor it was set at');
    assert.notDeepEqual(info2.filter_since, { txid: '0', seq: '0' });
    await insert(integration, [['cus_F5', { metadata: { plan: 'free' } }]]);
    await triggerTarget(stack.deps, created.id);
    await waitFor(async () => rcv.rows().some((r) => r.stripe_id === 'cus_F5'), { what: 'the row after the filter was cleared' });
    const f5 = rcv.rows().find((r) => r.stripe_id === 'cus_F5');
    assert.deepEqual(f5.data, { id: 'cus_F5', object: 'customer', metadata: { plan: 'free' } }, 'the whole row again');
    assert.equal(f5.name, 'customer cus_F5');
  });

  test('an unknown column, a pointer below a plain column and a match that is not a JSON object are refused, at creation and at update', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const targetsOf = async () => (await stack.pool.query('SELECT count(*)::int AS n FROM sync_targets WHERE integration_id = $1', [integration.id])).rows[0].n;
    refused(await cli(['create', integration.id, '--fields', 'email,nope'], { stdin: `${rcv.url}\n` }), /unknown column "nope"/);
    refused(await cli(['create', integration.id, '--fields', '/email/x'], { stdin: `${rcv.url}\n` }), /column email is not JSON/);
    refused(await cli(['create', integration.id, '--match', '[1]'], { stdin: `${rcv.url}\n` }), /match must be a JSON object/);
    refused(await cli(['create', integration.id, '--match', '{plan'], { stdin: `${rcv.url}\n` }), /not JSON/);
    refused(await cli(['create', integration.id, '--unmatched', 'drop'], { stdin: `${rcv.url}\n` }), /skip, tombstone/);
    assert.equal(await targetsOf(), 0, 'nothing created');
    assert.equal(syncPages(rcv).length + rcv.requests.length, 0, 'not even a verification POST');

    const target = await newTarget(stack, integration.id, rcv, { filter: { fields: ['email'] } });
    refused(await cli(['update', target.id, '--fields', 'pk,emial']), /unknown column "emial"/);
    refused(await cli(['update', target.id, '--match', '"pro"']), /match must be a JSON object/);
    const info = ok(await cli(['info', target.id, '--json']));
    assert.deepEqual(info.fields, ['email'], 'unchanged');
    assert.equal(info.match, null);
  });

  test('with --unmatched tombstone, a row that changes and no longer matches comes as a key-only row with "hooksync_unmatched": true', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    await insert(integration, [['cus_T1', { metadata: { plan: 'pro' } }]]);
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, filter: { match: { metadata: { plan: 'pro' } }, unmatched: 'tombstone' } });
    await waitFor(async () => rcv.rows().length === 1, { what: 'the matching row' });
    assert.equal(rcv.rows()[0].name, 'customer cus_T1');

    await change(integration, 'cus_T1', { metadata: { plan: 'free' } });
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => rcv.rows().length === 2, { what: 'the tombstone' });
    const tomb = rcv.rows()[1];
    assert.deepEqual(Object.keys(tomb).sort(), [...ALWAYS, 'hooksync_unmatched'].sort());
    assert.equal(tomb.hooksync_unmatched, true);
    assert.equal(tomb.stripe_id, 'cus_T1');
    assert.equal(tomb.pk, rcv.rows()[0].pk);
    assert.ok(Date.parse(tomb.updated) > Date.parse(rcv.rows()[0].updated), 'the version time of the new version');
    const info = ok(await cli(['info', target.id, '--json']));
    assert.equal(info.unmatched, 'tombstone');
  });

  test('the cursor moves past pages with no match without a POST; a page is still the next page-size rows read, its id their range', async () => {
    const integration = await newIntegration(stack);
    const rcv = await receiver();
    const target = await newTarget(stack, integration.id, rcv, { periodSeconds: 3600, pageSize: 5, filter: { match: { metadata: { plan: 'pro' } } } });
    await waitFor(async () => (await counters(target.id)) !== undefined && rcv.requests.length === 1, { what: 'the verification POST' });

    // Twelve rows, none matching: three pages read (5, 5, 2), nothing sent.
    await insert(integration, Array.from({ length: 12 }, (_, n) => [`cus_N${String(n).padStart(2, '0')}`, { metadata: { plan: 'free' } }] as [string, Record<string, unknown>]));
    await triggerTarget(stack.deps, target.id);
    await cursorPassedAll(integration, target.id);
    assert.equal(syncPages(rcv).length, 0, 'no POST');
    assert.deepEqual(await counters(target.id), { pages: 0, posts: 0 });

    // Seven rows, every other one matching, in one transaction: the first page reads five rows
    // (three match), the second the last two (one matches).
    await insert(
      integration,
      Array.from({ length: 7 }, (_, n) => [`cus_M${n}`, { metadata: { plan: n % 2 === 0 ? 'pro' : 'free' } }] as [string, Record<string, unknown>]),
    );
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => rcv.rows().length === 4, { what: 'the four matching rows' });
    await cursorPassedAll(integration, target.id);
    const pages = acceptedPages(rcv);
    assert.equal(pages.length, 2);
    assert.deepEqual(pages.map((p) => p.body.rows.map((r: { stripe_id: string }) => r.stripe_id)), [['cus_M0', 'cus_M2', 'cus_M4'], ['cus_M6']]);
    const m = (await positions(integration)).filter((r) => r.k.startsWith('cus_M'));
    assert.equal(pages[0]!.pageId, pageId(target.id, m[0]!, m[4]!), 'the first page spans the five rows read');
    assert.equal(pages[1]!.pageId, pageId(target.id, m[5]!, m[6]!), 'the second starts after the last row read, matched or not');
    assert.deepEqual(await counters(target.id), { pages: 2, posts: 2 });
  });
});

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { z } from 'zod';
import { insertInboxRows, type InboxRow } from '../src/db/inbox';
import { checkDescriptor } from '../src/integrations';
import { resolvePointer } from '../src/integrations/json-pointer';
import { applySql, createTableSql } from '../src/integrations/sql';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import type { IntegrationDescriptor, Interpretation } from '../src/integrations/types';

// The frame against PostgreSQL, with integrations of other shapes than Stripe's: a GitHub-issue-like
// one (the resource under /issue, an envelope column, ISO timestamps, deletion winning ties) and a
// Standard-Webhooks-like one (the whole payload as the resource, de-duplication by event id).
// The apply statement is run as the activity runs it.

const githubLike: IntegrationDescriptor = {
  ...stripeCustomerV1,
  service: 'frame_issue_v1',
  remoteKeyColumn: 'github_id',
  timestampColumn: 'updated_at',
  resourcePointer: '/issue',
  columns: [
    { name: 'number', type: 'integer', pointer: '/number' },
    { name: 'title', type: 'text', pointer: '/title' },
    { name: 'state', type: 'text', pointer: '/state' },
    { name: 'repository', type: 'text', pointer: '/repository/full_name', from: 'event' },
    { name: 'closed_at', type: 'timestamptz', pointer: '/closed_at', convert: 'iso-8601' },
    { name: 'locked', type: 'boolean', pointer: '/locked' },
    { name: 'score', type: 'numeric', pointer: '/score' },
    { name: 'big', type: 'bigint', pointer: '/big' },
  ],
  precedence: ['changed', 'deleted'],
  interpret(body: unknown): Interpretation {
    const e = body as { action?: string; issue?: { id?: number; updated_at?: string } };
    if (!e.issue?.id || !e.issue.updated_at) return { kind: 'invalid', message: 'no issue' };
    const deleted = e.action === 'deleted';
    return { kind: 'record', record: { key: String(e.issue.id), ts: Date.parse(e.issue.updated_at), deleted, change: deleted ? 'deleted' : 'changed' } };
  },
};

const webhooksLike: IntegrationDescriptor<{ keyPointer: string }> = {
  ...stripeCustomerV1,
  service: 'frame_webhooks_v1',
  remoteKeyColumn: 'remote_id',
  timestampColumn: 'occurred_at',
  resourcePointer: '',
  columns: [{ name: 'kind', type: 'text', pointer: '/type' }],
  precedence: ['changed'],
  dedupe: { windowDays: 7 },
  config: z.object({ keyPointer: z.string().startsWith('/') }),
  interpret(body: unknown, instance) {
    const key = resolvePointer(body, instance.config.keyPointer);
    return typeof key === 'string' ? { kind: 'record', record: { key, ts: 0, deleted: false, change: 'changed' } } : { kind: 'invalid', message: 'no key' };
  },
};

describe('the integration frame: descriptors of other shapes, applied in PostgreSQL', () => {
  let pool: pg.Pool;
  const suffix = crypto.randomBytes(3).toString('hex');
  const id = (name: string) => `svi_frame${name}${suffix}`;

  before(async () => {
    assert.ok(process.env.DATABASE_URL, 'run with `npm test`');
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  });
  after(async () => {
    await pool?.end();
  });

  async function table(d: IntegrationDescriptor<any>, name: string): Promise<string> {
    checkDescriptor(d);
    const t = `${d.service}_${suffix}${name}`;
    for (const stmt of createTableSql(d, t)) await pool.query(stmt);
    return t;
  }
  const row = (key: string, ts: string | number, body: unknown, extra: Partial<InboxRow> = {}): InboxRow => ({
    shard: 0,
    key,
    ts: typeof ts === 'string' ? Date.parse(ts) : ts,
    precedence: 0,
    deleted: false,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...extra,
  });
  const apply = async (d: IntegrationDescriptor<any>, t: string, integrationId: string) =>
    (await pool.query(applySql(d, t), [integrationId, 0, 1000, null])).rows[0] as { taken: number; applied: number };

  test('a GitHub-issue-like integration: the resource under /issue, an envelope column, converters that never fail the statement', async () => {
    const t = await table(githubLike, 'a');
    const integration = id('gh');
    const issue = (over: Record<string, unknown>) => ({
      action: 'edited',
      repository: { full_name: 'octo/hello-world' },
      issue: { id: 1001, number: 7, title: 'Broken build', state: 'open', updated_at: '2026-11-27T12:00:00Z', closed_at: null, locked: false, score: 12.5, big: 42, ...over },
    });
    const good = issue({});
    const odd = issue({ id: 1002, number: 'seven', title: 99, closed_at: 'yesterday', locked: 'no', score: 'high', big: 1e30 });
    const closed = issue({ id: 1003, number: 2147483648, state: 'closed', closed_at: '2026-11-28T09:30:00.123+02:00', big: 'BIG' });
    // Beyond JavaScript's safe integers, exactly as sent: PostgreSQL reads the number itself.
    const closedText = JSON.stringify(closed).replace('"BIG"', '-9007199254740993');
    const at = '2026-11-27T12:00:00Z';
    await insertInboxRows(pool, integration, [row('1001', at, good), row('1002', at, odd), row('1003', at, closedText)]);
    const r = await apply(githubLike, t, integration);
    assert.equal(r.taken, 3);
    assert.equal(r.applied, 3);
    const { rows } = await pool.query(`SELECT * FROM ${t} ORDER BY github_id`);
    assert.deepEqual(
      rows.map((x) => [x.github_id, x.number, x.title, x.state, x.repository, x.closed_at?.toISOString() ?? null, x.locked, x.score, x.big]),
      [
        ['1001', 7, 'Broken build', 'open', 'octo/hello-world', null, false, '12.5', '42'],
        // What a converter cannot read is NULL; the event is kept whole in data.
        ['1002', null, null, 'open', 'octo/hello-world', null, null, null, null],
        ['1003', null, 'Broken build', 'closed', 'octo/hello-world', '2026-11-28T07:30:00.123Z', false, '12.5', '-9007199254740993'],
      ],
    );
    assert.deepEqual(rows[0].data, good.issue, 'data is the resource (/issue)');
    assert.deepEqual(rows[1].data, odd.issue);
    assert.equal(rows[0].updated_at.toISOString(), '2026-11-27T12:00:00.000Z');
  });

  test('ties by precedence and the later arrival; a deletion wins at the same time; older versions lose', async () => {
    const t = await table(githubLike, 'b');
    const integration = id('ties');
    const at = '2026-11-27T12:00:00Z';
    const v = (title: string, action = 'edited') => ({ action, repository: { full_name: 'octo/x' }, issue: { id: 5, title, updated_at: at } });
    // Same second: edited A, deleted, edited B (later): the deletion wins.
    await insertInboxRows(pool, integration, [row('5', at, v('A')), row('5', at, v('gone', 'deleted'), { precedence: 1, deleted: true }), row('5', at, v('B'))]);
    await apply(githubLike, t, integration);
    let stored = (await pool.query(`SELECT * FROM ${t}`)).rows[0];
    assert.equal(stored.deleted, true);
    assert.equal(stored.title, 'gone');
    // Applied later, one by one: an edit of the same second, and an older one: nothing changes.
    await insertInboxRows(pool, integration, [row('5', at, v('C'))]);
    await apply(githubLike, t, integration);
    await insertInboxRows(pool, integration, [row('5', '2026-11-27T11:59:59Z', v('older'))]);
    await apply(githubLike, t, integration);
    assert.deepEqual((await pool.query(`SELECT * FROM ${t}`)).rows[0], stored);
    // Two edits of the same second, separately applied: the later arrival wins.
    const t2 = await table(githubLike, 'c');
    const other = id('later');
    await insertInboxRows(pool, other, [row('5', at, v('first'))]);
    await apply(githubLike, t2, other);
    await insertInboxRows(pool, other, [row('5', at, v('second'))]);
    await apply(githubLike, t2, other);
    stored = (await pool.query(`SELECT * FROM ${t2}`)).rows[0];
    assert.equal(stored.title, 'second');
  });

  test('a Standard-Webhooks-like integration: key from an instance\'s JSON pointer, the whole payload as data, an event id applied only once', async () => {
    const t = await table(webhooksLike, 'd');
    const integration = id('sw');
    const interpret = (body: unknown) => webhooksLike.interpret(body, { headers: {}, config: { keyPointer: '/data/customer/id' } });
    const payload = (n: number) => ({ type: 'customer.changed', timestamp: '2026-11-27T12:00:00Z', data: { customer: { id: 'c_1', n } } });
    const first = interpret(payload(1));
    assert.equal(first.kind === 'record' && first.record.key, 'c_1');
    const at = Date.parse('2026-11-27T12:00:00Z');
    // The same webhook-id twice in one batch, and once more later (a redelivery): applied once.
    await insertInboxRows(pool, integration, [row('c_1', at, payload(1), { eventId: 'msg_1' }), row('c_1', at, payload(1), { eventId: 'msg_1' })]);
    assert.deepEqual(await apply(webhooksLike, t, integration).then((r) => [r.taken, r.applied]), [2, 1]);
    const stored = (await pool.query(`SELECT * FROM ${t}`)).rows[0];
    assert.deepEqual(stored.data, payload(1), 'the whole payload');
    assert.equal(stored.kind, 'customer.changed');
    // A redelivery, even with other content: not applied again. A new id is.
    await insertInboxRows(pool, integration, [row('c_1', at, payload(2), { eventId: 'msg_1' })]);
    assert.deepEqual(await apply(webhooksLike, t, integration).then((r) => [r.taken, r.applied]), [1, 0]);
    assert.deepEqual((await pool.query(`SELECT * FROM ${t}`)).rows[0], stored);
    await insertInboxRows(pool, integration, [row('c_1', at + 1000, payload(3), { eventId: 'msg_2' })]);
    assert.deepEqual(await apply(webhooksLike, t, integration).then((r) => [r.taken, r.applied]), [1, 1]);
    const { rows } = await pool.query('SELECT event_id FROM ingest_seen_events WHERE integration_id = $1 ORDER BY 1', [integration]);
    assert.deepEqual(rows.map((r) => r.event_id), ['msg_1', 'msg_2']);
  });
});

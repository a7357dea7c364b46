import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shardOf } from '../../src/api/ingest-batcher';
import { newestPerKey, pageSql, upsertParams } from '../../src/integrations/sql';
import { stripeCustomerV1 } from '../../src/integrations/stripe-customer-v1';
import type { IngestRecord } from '../../src/integrations/types';

const rec = (key: string, ts: number, email = `${key}@${ts}`): IngestRecord => ({ key, ts, deleted: false, resource: { id: key, email } });

test('a batch keeps each key\'s newest record; on equal timestamps the later arrival', () => {
  const out = newestPerKey([rec('b', 2), rec('a', 5), rec('b', 1), rec('a', 5, 'later'), rec('b', 3)]);
  assert.deepEqual(
    out.map((r) => [r.key, r.ts, r.resource.email]),
    [
      ['a', 5, 'later'],
      ['b', 3, 'b@3'],
    ],
  );
});

test('upsert parameters carry the denormalized columns of the descriptor', () => {
  const [row] = JSON.parse(
    upsertParams(stripeCustomerV1, [{ key: 'cus_1', ts: 1_700_000_000_000, deleted: true, resource: { id: 'cus_1', balance: 12, created: 1_600_000_000, email: 'a@b.c', name: 'A', phone: null } }]),
  );
  assert.deepEqual(row, {
    stripe_id: 'cus_1',
    updated: '2023-11-14T22:13:20.000Z',
    deleted: true,
    data: { id: 'cus_1', balance: 12, created: 1_600_000_000, email: 'a@b.c', name: 'A', phone: null },
    balance: 12,
    created: '2020-09-13T12:26:40.000Z',
    email: 'a@b.c',
    name: 'A',
    phone: null,
  });
});

test('the page query holds back rows of transactions still in flight', () => {
  const sql = pageSql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.match(sql, /_txid < pg_snapshot_xmin\(pg_current_snapshot\(\)\)/);
  assert.match(sql, /ORDER BY _txid, _seq/);
  assert.throws(() => pageSql(stripeCustomerV1, 'x"; drop table y'), /unsafe SQL identifier/);
});

test('a remote key always maps to the same shard, and keys spread over all shards', () => {
  assert.equal(shardOf('cus_123', 4), shardOf('cus_123', 4));
  const seen = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`cus_${i}`, 4)));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
});

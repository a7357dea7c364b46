import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shardOf } from '../../src/api/inbox-writer';
import { checkDescriptor } from '../../src/integrations';
import { parsePointer, resolvePointer } from '../../src/integrations/json-pointer';
import { applySql, precedenceOf } from '../../src/integrations/sql';
import { pageSql } from '../../src/integrations/read-sql';
import { stripeCustomerV1 } from '../../src/integrations/stripe-customer-v1';
import type { IntegrationDescriptor } from '../../src/integrations/types';

test('the apply keeps each key\'s newest version by timestamp, then precedence, then arrival, and parses only those bodies', () => {
  const sql = applySql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.match(sql, /DISTINCT ON \(remote_key\)[\s\S]*ORDER BY remote_key, version_at DESC, precedence DESC, id DESC/);
  // The bodies are parsed after the newest were picked, once each (a materialized step), not before.
  assert.ok(sql.indexOf(')::jsonb AS ev') > sql.indexOf('DISTINCT ON'));
  assert.match(sql, /src AS MATERIALIZED/);
  assert.match(sql, /DELETE FROM ingest_inbox/);
  assert.match(sql, /FOR UPDATE SKIP LOCKED/);
  assert.doesNotMatch(sql, /ingest_seen_events/, 'Stripe does not de-duplicate by event id');
});

test('the conditional upsert compares (timestamp, precedence), and the same version wins only if it changes something', () => {
  const sql = applySql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.match(sql, /WHERE \(old\."updated", old\._precedence\) < \(excluded\."updated", excluded\._precedence\)/);
  assert.match(sql, /IS DISTINCT FROM/);
  assert.match(sql, /_txid = pg_current_xact_id\(\)/);
});

test('denormalized columns are read in SQL from the resource (or the event) by JSON pointer', () => {
  const sql = applySql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.ok(sql.includes(`(s.ev #> ARRAY['data', 'object', 'email']::text[])`), 'email from /data/object/email');
  assert.ok(sql.includes(`(s.ev #> ARRAY['data', 'object']::text[])`), 'data is the resource');
  const github: IntegrationDescriptor = {
    ...stripeCustomerV1,
    service: 'github_issue_v1',
    resourcePointer: '/issue',
    remoteKeyColumn: 'github_id',
    timestampColumn: 'updated_at',
    columns: [
      { name: 'repository', type: 'text', pointer: '/repository/full_name', from: 'event' },
      { name: 'closed_at', type: 'timestamptz', pointer: '/closed_at', convert: 'iso-8601' },
      { name: 'odd', type: 'text', pointer: "/a~1b/it's" },
    ],
    precedence: ['changed', 'deleted'],
  };
  checkDescriptor(github);
  const gh = applySql(github, 'github_issue_v1_abcd');
  assert.ok(gh.includes(`(s.ev #> ARRAY['repository', 'full_name']::text[])`), 'an envelope field');
  assert.ok(gh.includes(`hooksync_iso_timestamptz`));
  assert.ok(gh.includes(`ARRAY['issue', 'a/b', 'it''s']::text[]`), 'pointer escapes and SQL quoting');
});

test('a descriptor the frame cannot serve fails at registration', () => {
  assert.throws(() => checkDescriptor({ ...stripeCustomerV1, columns: [{ name: 'created', type: 'timestamptz', pointer: '/created' }] }), /needs a converter/);
  assert.throws(() => checkDescriptor({ ...stripeCustomerV1, columns: [{ name: 'n', type: 'bigint', pointer: '/n', convert: 'iso-8601' }] }), /makes timestamptz/);
  assert.throws(() => checkDescriptor({ ...stripeCustomerV1, resourcePointer: 'data/object' }), /starts with "\/"/);
  assert.throws(() => checkDescriptor({ ...stripeCustomerV1, precedence: [] }), /precedence/);
  assert.throws(() => checkDescriptor({ ...stripeCustomerV1, columns: [{ name: '_txid', type: 'text', pointer: '/x' }] }), /taken/);
});

test('Stripe\'s precedence: deleted beats updated beats created', () => {
  assert.ok(precedenceOf(stripeCustomerV1, 'customer.deleted') > precedenceOf(stripeCustomerV1, 'customer.updated'));
  assert.ok(precedenceOf(stripeCustomerV1, 'customer.updated') > precedenceOf(stripeCustomerV1, 'customer.created'));
  assert.throws(() => precedenceOf(stripeCustomerV1, 'invoice.paid'));
});

test('RFC 6901 JSON pointers', () => {
  assert.deepEqual(parsePointer(''), []);
  assert.deepEqual(parsePointer('/a~1b/c~0d/0'), ['a/b', 'c~d', '0']);
  assert.throws(() => parsePointer('/bad~2'));
  const doc = { a: { 'x/y': [10, { z: 'deep' }] } };
  assert.equal(resolvePointer(doc, '/a/x~1y/1/z'), 'deep');
  assert.equal(resolvePointer(doc, '/a/x~1y/01'), undefined);
  assert.equal(resolvePointer(doc, '/a/missing'), undefined);
  assert.equal(resolvePointer(doc, ''), doc);
});

test('the page query holds back rows of transactions still in flight', () => {
  const sql = pageSql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.match(sql, /_txid < pg_snapshot_xmin\(pg_current_snapshot\(\)\)/);
  assert.match(sql, /ORDER BY _txid, _seq/);
  assert.doesNotMatch(sql, /_precedence/, 'the precedence is not part of a delivered row');
  assert.throws(() => pageSql(stripeCustomerV1, 'x"; drop table y'), /unsafe SQL identifier/);
});

test('a remote key always maps to the same shard, and keys spread over all shards', () => {
  assert.equal(shardOf('cus_123', 4), shardOf('cus_123', 4));
  const seen = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`cus_${i}`, 4)));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listedVersionTime, pageUrl, readPage } from '../../src/activities/fetch-backfill-pages';
import { upsertListedSql, LISTED_PRECEDENCE } from '../../src/integrations/sql';
import { stripeCustomerV1 } from '../../src/integrations/stripe-customer-v1';

const list = stripeCustomerV1.list!;

test("Stripe's list API: 100 customers a page, each page after the last id, a base's path prefix kept", () => {
  assert.equal(pageUrl('https://api.stripe.com', list, 100).toString(), 'https://api.stripe.com/v1/customers?limit=100');
  assert.equal(pageUrl('https://api.stripe.com', list, 100, 'cus_9').toString(), 'https://api.stripe.com/v1/customers?limit=100&starting_after=cus_9');
  assert.equal(pageUrl('https://proxy.example/stripe', list, 100).toString(), 'https://proxy.example/stripe/v1/customers?limit=100');
});

test('a page is read by its pointers; a page of another shape is refused with the reason', () => {
  assert.deepEqual(readPage(list, { data: [{ id: 'cus_1', email: 'a@x' }], has_more: true }), { items: [['cus_1', { id: 'cus_1', email: 'a@x' }]], hasMore: true });
  assert.match(readPage(list, { data: {}, has_more: false }) as string, /no array at \/data/);
  assert.match(readPage(list, { data: [] }) as string, /no boolean at \/has_more/);
  assert.match(readPage(list, { data: [{ email: 'a@x' }], has_more: false }) as string, /no key at \/id/);
});

test("a listed copy's version time: the fetch, rounded down to the upstream's resolution, never past the upstream's clock", () => {
  assert.equal(listedVersionTime(1_700_000_000_999, undefined, 1000), 1_700_000_000_000);
  // Our clock 5 s ahead of Stripe's: Stripe's Date wins.
  assert.equal(listedVersionTime(1_700_000_005_500, 1_700_000_000_000, 1000), 1_700_000_000_000);
  assert.equal(listedVersionTime(1_700_000_000_500, 1_700_000_003_000, 1000), 1_700_000_000_000);
});

test('the listed upsert ranks below every webhook change and changes a row only when newer and different', () => {
  const sql = upsertListedSql(stripeCustomerV1, 'stripe_customer_v1_abcd');
  assert.equal(LISTED_PRECEDENCE, -1);
  assert.match(sql, /-1::smallint AS precedence, false AS deleted/);
  assert.match(sql, /WHERE \(old\."updated", old\._precedence\) < \(excluded\."updated", excluded\._precedence\)\s+AND \(/);
  assert.ok(sql.includes(`(s.ev #> ARRAY['email']::text[])`), 'columns are read from the resource itself');
});

test("a listed copy keeps the envelope's columns a webhook wrote (it has no envelope) and does not count them as a change", () => {
  const withEnvelope = { ...stripeCustomerV1, columns: [...stripeCustomerV1.columns, { name: 'livemode', type: 'boolean' as const, pointer: '/livemode', from: 'event' as const }] };
  const sql = upsertListedSql(withEnvelope, 'stripe_customer_v1_abcd');
  assert.match(sql, /NULL::boolean/);
  assert.match(sql, /"livemode" = old\."livemode"/);
  const where = sql.slice(sql.indexOf('\nWHERE'), sql.indexOf('RETURNING'));
  assert.match(where, /IS DISTINCT FROM/);
  assert.doesNotMatch(where, /livemode/);
});

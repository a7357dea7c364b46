import assert from 'node:assert/strict';
import { test } from 'node:test';
import Stripe from 'stripe';
import { stripeCustomerV1 } from '../../src/integrations/stripe-customer-v1';

const secret = 'whsec_unit_test_secret';
const payload = JSON.stringify({ id: 'evt_1', type: 'customer.updated', created: 1_700_000_000, data: { object: { id: 'cus_1', object: 'customer' } } });
const sign = (opts: Partial<Parameters<typeof Stripe.webhooks.generateTestHeaderString>[0]> = {}) =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret, ...opts });
const verify = (header: string | undefined, body = payload, s: string | null = secret) =>
  stripeCustomerV1.verify(Buffer.from(body), header === undefined ? {} : { 'stripe-signature': header }, s, {});

test('a request signed by Stripe\'s own helper verifies', () => {
  assert.deepEqual(verify(sign()), { ok: true });
});

test('any of several v1 signatures may match (secret rotation)', () => {
  const good = sign();
  const t = good.split(',')[0];
  const v1 = good.split(',')[1];
  assert.deepEqual(verify(`${t},v1=${'0'.repeat(64)},${v1}`), { ok: true });
});

test('missing, malformed, wrong and stale signatures are told apart', () => {
  assert.equal((verify(undefined) as { reason: string }).reason, 'missing_signature');
  assert.equal((verify('garbage') as { reason: string }).reason, 'malformed_signature');
  assert.equal((verify(sign({ secret: 'whsec_other' })) as { reason: string }).reason, 'bad_signature');
  assert.equal((verify(sign(), payload + ' ') as { reason: string }).reason, 'bad_signature');
  const stale = sign({ timestamp: Math.floor(Date.now() / 1000) - 301 });
  assert.equal((verify(stale) as { reason: string }).reason, 'stale_signature');
  assert.equal((verify(sign(), payload, null) as { reason: string }).reason, 'no_secret');
});

test('customer events become records; other types are ignored; broken ones are invalid', () => {
  const interpret = (body: unknown) => stripeCustomerV1.interpret(body, { headers: {}, config: {} });
  const r = interpret({ id: 'evt_1', type: 'customer.deleted', created: 5, data: { object: { id: 'cus_9', object: 'customer' } } });
  assert.deepEqual(r, { kind: 'record', record: { key: 'cus_9', ts: 5000, deleted: true, change: 'customer.deleted', eventId: 'evt_1' } });
  assert.deepEqual(interpret({ type: 'customer.updated', created: 5, data: { object: { id: 'cus_9' } } }), {
    kind: 'record',
    record: { key: 'cus_9', ts: 5000, deleted: false, change: 'customer.updated' },
  });
  assert.deepEqual(interpret({ type: 'invoice.paid', created: 5, data: { object: { id: 'in_1' } } }), { kind: 'ignored', eventType: 'invoice.paid' });
  assert.equal(interpret({ type: 'customer.updated', created: 5, data: {} }).kind, 'invalid');
  assert.equal(interpret({ type: 'customer.updated', data: { object: { id: 'cus_1' } } }).kind, 'invalid');
  assert.equal(interpret([1, 2]).kind, 'invalid');
});

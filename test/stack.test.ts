import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Stripe from 'stripe';
import { request } from 'undici';
import { createIntegration } from '../src/services/integrations';
import { startStack, waitFor, type Stack } from './support/harness';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent, stripeSignature } from './support/stripe';

// The harness itself: if this file fails, every other test file would too.
describe('test harness', () => {
  let stack: Stack;
  let receiver: Receiver;

  before(async () => {
    [stack, receiver] = await Promise.all([startStack(), startReceiver({ user: 'sync', password: 's3cret' })]);
  });
  after(async () => {
    await Promise.all([stack?.close(), receiver?.close()]);
  });

  test('the test database has the migrations applied', async () => {
    const { rows } = await stack.pool.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
    assert.ok(rows.some((r) => r.version === '001_init.sql'), `applied: ${rows.map((r) => r.version).join(', ')}`);
    const { rows: db } = await stack.pool.query<{ name: string }>('SELECT current_database() AS name');
    assert.match(db[0]!.name, /^hooksync_test_[0-9a-f]+$/);
  });

  test('each stack has its own task queue', () => {
    assert.match(stack.config.HOOKSYNC_TASK_QUEUE, /^test-[0-9a-f]+$/);
  });

  test('the API answers /healthz and is ready', async () => {
    const health = await fetch(`${stack.apiUrl}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${stack.apiUrl}/readyz`);
    assert.equal(ready.status, 200, JSON.stringify(await ready.clone().json()));
  });

  test('the Temporal server knows the search attributes', async () => {
    const { customAttributes } = await stack.temporal.connection.operatorService.listSearchAttributes({ namespace: stack.config.TEMPORAL_NAMESPACE });
    assert.ok(customAttributes && 'HooksyncTargetId' in customAttributes && 'HooksyncIntegrationId' in customAttributes);
  });

  test('the worker polls its task queue, and stops and starts again', async () => {
    const pollers = () =>
      stack.temporal.connection.workflowService
        .describeTaskQueue({ namespace: stack.config.TEMPORAL_NAMESPACE, taskQueue: { name: stack.config.HOOKSYNC_TASK_QUEUE }, taskQueueType: 1 })
        .then((r) => (r.pollers?.length ? r.pollers.length : undefined));
    await waitFor(pollers, { what: 'a workflow poller on the task queue' });
    await stack.stopWorker();
    await stack.startWorker();
  });

  test('the receiver takes an authenticated POST over HTTPS trusted through NODE_EXTRA_CA_CERTS', async () => {
    assert.ok(process.env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS is set');
    const url = new URL(receiver.url);
    assert.equal(url.protocol, 'https:');
    const body = JSON.stringify({ rows: [{ stripe_id: 'cus_1', email: 'a@example.com' }, { stripe_id: 'cus_1', email: 'b@example.com' }] });
    const ok = await request(receiver.endpoint, {
      method: 'POST',
      body,
      headers: { authorization: 'Basic ' + Buffer.from('sync:s3cret').toString('base64'), 'content-type': 'application/json', 'hooksync-page-id': 'p1' },
    });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();

    const denied = await request(receiver.endpoint, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(denied.statusCode, 401);
    await denied.body.dump();

    receiver.respondWith(() => ({ status: 500 }));
    const failed = await request(receiver.endpoint, {
      method: 'POST',
      body: JSON.stringify({ rows: [{ stripe_id: 'cus_2' }] }),
      headers: { authorization: 'Basic ' + Buffer.from('sync:s3cret').toString('base64') },
    });
    assert.equal(failed.statusCode, 500);
    await failed.body.dump();

    assert.equal(receiver.requests.length, 3);
    assert.equal(receiver.requests[0]!.pageId, 'p1');
    assert.deepEqual(receiver.rows().map((r) => r.email), ['a@example.com', 'b@example.com']);
    assert.equal(receiver.state('stripe_id').get('cus_1').email, 'b@example.com');
    assert.equal(receiver.maxConcurrent, 1);
  });

  test('a signed Stripe event goes through the API and the worker into its table', async () => {
    const secret = 'whsec_' + 'test'.repeat(8);
    const event = customerEvent({ type: 'customer.created', id: 'cus_Harness1', created: Math.floor(Date.now() / 1000), email: 'h@example.com' });
    // The signature helper is Stripe's own: Stripe's verifier accepts it.
    const payload = JSON.stringify(event);
    assert.equal(Stripe.webhooks.constructEvent(payload, stripeSignature(payload, secret), secret).id, event.id);

    const integration = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: secret });
    const res = await postEvent(stack.apiUrl, integration.id, event, secret);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const row = await waitFor(
      async () => (await stack.pool.query(`SELECT email FROM ${integration.table} WHERE stripe_id = $1`, ['cus_Harness1'])).rows[0],
      { what: 'the customer row' },
    );
    assert.equal(row.email, 'h@example.com');
  });
});

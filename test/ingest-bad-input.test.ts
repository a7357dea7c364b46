import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createIntegration, updateIntegration, type IntegrationView } from '../src/services/integrations';
import { startStack, waitFor, type Stack } from './support/harness';
import { closedPort, existingIngestWorkflows, rowOf, workflowsOfIntegration } from './support/ingest';
import { customerEvent, postEvent, stripeSignature } from './support/stripe';

// Bad requests get a clear {code, detail} and change nothing: no row, no ingest workflow. With
// PostgreSQL unreachable the API answers 503 (retryable) and nothing is half-done; with Temporal
// unreachable it still accepts: the events wait in PostgreSQL's inbox.

const SECRET = 'whsec_' + 'badinput'.repeat(4);
const T0 = 1_700_000_000;
const now = () => Math.floor(Date.now() / 1000);

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** POSTs raw bytes with the given Stripe-Signature (or none) and returns status, headers and parsed body. */
const post = (apiUrl: string, integrationId: string, payload: string | Buffer, signature: string | null): Promise<Answer> =>
  postEvent(apiUrl, integrationId, undefined, SECRET, { rawBody: payload, signature });

/** A clear error: exactly {code, detail}, both non-empty strings. */
function assertError(answer: { status: number; body: any }, status: number, code: string, detail?: RegExp): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'detail'], JSON.stringify(answer.body));
  assert.equal(answer.body.code, code);
  assert.equal(typeof answer.body.detail, 'string');
  assert.ok(answer.body.detail.length > 0);
  if (detail) assert.match(answer.body.detail, detail);
}

describe('ingest: bad input and unavailable dependencies', () => {
  let stack: Stack;
  /** The integration every rejected request is aimed at; it must stay untouched. */
  let target: IntegrationView;
  let shards: number;

  before(async () => {
    stack = await startStack();
    shards = stack.config.HOOKSYNC_INGEST_SHARDS;
    target = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
  });
  after(async () => {
    await stack?.close();
  });

  /** No row in the table and no ingest workflow, on any shard (describe is strongly consistent). */
  async function assertNothingChanged(integration = target): Promise<void> {
    const { rows } = await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`);
    assert.equal(rows[0].n, 0, `no row in ${integration.table}`);
    assert.deepEqual(await existingIngestWorkflows(stack.temporal.client, integration.id, shards), [], 'no ingest workflow');
  }

  const validEvent = (id: string) => customerEvent({ type: 'customer.created', id, created: T0, email: `${id}@example.com` });

  test('an unknown integration: 404', async () => {
    const payload = JSON.stringify(validEvent('cus_Unknown1'));
    const answer = await post(stack.apiUrl, 'svi_doesnotexist', payload, stripeSignature(payload, SECRET));
    assertError(answer, 404, 'unknown_integration', /svi_doesnotexist/);
    assert.deepEqual(await existingIngestWorkflows(stack.temporal.client, 'svi_doesnotexist', shards), []);
  });

  test('a missing, malformed, wrong, tampered or stale signature: 401', async () => {
    const payload = JSON.stringify(validEvent('cus_BadSig1'));
    assertError(await post(stack.apiUrl, target.id, payload, null), 401, 'missing_signature', /Stripe-Signature/);
    assertError(await post(stack.apiUrl, target.id, payload, ''), 401, 'missing_signature');
    assertError(await post(stack.apiUrl, target.id, payload, 'not-a-signature'), 401, 'malformed_signature');
    assertError(await post(stack.apiUrl, target.id, payload, `v1=${'0'.repeat(64)}`), 401, 'malformed_signature'); // no timestamp
    assertError(await post(stack.apiUrl, target.id, payload, stripeSignature(payload, 'whsec_someoneelse')), 401, 'bad_signature');
    // Signed, then changed on the way.
    const tampered = payload.replace('cus_BadSig1@example.com', 'mallory@example.com');
    assertError(await post(stack.apiUrl, target.id, tampered, stripeSignature(payload, SECRET)), 401, 'bad_signature');
    // A replay: signed more than five minutes ago.
    assertError(await post(stack.apiUrl, target.id, payload, stripeSignature(payload, SECRET, now() - 6 * 60)), 401, 'stale_signature', /tolerance/);
    await assertNothingChanged();
  });

  test('malformed JSON or something that is not a Stripe event, validly signed: 400', async () => {
    const broken = '{"id": "evt_1", "type": "customer.created", ';
    assertError(await post(stack.apiUrl, target.id, broken, stripeSignature(broken, SECRET)), 400, 'malformed_json');
    for (const body of [
      '[1, 2, 3]',
      '"customer.created"',
      JSON.stringify({ id: 'evt_2', object: 'event', created: T0, data: { object: { id: 'cus_X' } } }), // no type
      JSON.stringify({ ...validEvent('cus_NoTime1'), created: 'yesterday' }),
      JSON.stringify({ ...validEvent('cus_NoId1'), data: { object: { object: 'customer', email: 'x@example.com' } } }),
    ]) {
      assertError(await post(stack.apiUrl, target.id, body, stripeSignature(body, SECRET)), 400, 'invalid_event');
    }
    await assertNothingChanged();
  });

  test('a body over 1 MiB: 413, with or without a Content-Length', async () => {
    const event = validEvent('cus_Huge1');
    event.data.object.description = 'x'.repeat(1024 * 1024);
    const payload = JSON.stringify(event);
    assert.ok(Buffer.byteLength(payload) > 1024 * 1024);
    assertError(await post(stack.apiUrl, target.id, payload, stripeSignature(payload, SECRET)), 413, 'body_too_large', /1048576/);

    // Chunked: the API stops reading past the limit and answers 413.
    const chunked = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const url = new URL(`${stack.apiUrl}/v1/webhooks/${target.id}`);
      const req = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, SECRET) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
          res.on('error', reject);
        },
      );
      // The server may close the connection while the rest is still being written: that is its right.
      req.on('error', (err) => (req.destroyed && (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
      const bytes = Buffer.from(payload);
      let offset = 0;
      const writeMore = () => {
        while (offset < bytes.length) {
          const chunk = bytes.subarray(offset, offset + 64 * 1024);
          offset += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', writeMore);
        }
        req.end();
      };
      writeMore();
    });
    assertError(chunked, 413, 'body_too_large');
    await assertNothingChanged();
  });

  test('an event type the integration does not handle is acknowledged with 2xx and ignored', async () => {
    for (const type of ['customer.subscription.created', 'invoice.paid', 'customer.source.created', 'charge.succeeded']) {
      const event = {
        ...validEvent('cus_Ignored1'),
        type,
        data: { object: { id: `${type.split('.')[0]!.slice(0, 3)}_Ignored1`, object: type.split('.')[1], customer: 'cus_Ignored1' } },
      };
      const res = await postEvent(stack.apiUrl, target.id, event, SECRET);
      assert.ok(res.status >= 200 && res.status < 300, `${type}: ${res.status}`);
      assert.equal(res.body.received, true);
      assert.match(res.body.ignored, new RegExp(type.replace(/\./g, '\\.')));
    }
    assert.equal(await rowOf(stack.pool, target.table, 'cus_Ignored1'), undefined);
    await assertNothingChanged();
  });

  test('an integration without a webhook secret answers 401 until its secret is set', async () => {
    const pending = await createIntegration(stack.deps, { service: 'stripe_customer_v1' });
    assert.equal(pending.has_webhook_secret, false);
    const event = validEvent('cus_NoSecret1');
    const refused = await postEvent(stack.apiUrl, pending.id, event, SECRET);
    assertError(refused, 401, 'no_secret', /integrations update/);
    await assertNothingChanged(pending);

    await updateIntegration(stack.deps, pending.id, { webhookSecret: SECRET });
    // The API caches an integration for up to 5 s: the new secret is accepted within that.
    const started = Date.now();
    await waitFor(async () => (await postEvent(stack.apiUrl, pending.id, event, SECRET)).status === 200, {
      timeoutMs: 10_000,
      intervalMs: 250,
      what: 'the new secret to be accepted',
    });
    assert.ok(Date.now() - started < 6_000, `took ${Date.now() - started} ms`);
    const row = await waitFor(() => rowOf(stack.pool, pending.table, 'cus_NoSecret1'), { what: 'the row' });
    assert.equal(row.email, 'cus_NoSecret1@example.com');
  });

  test('an event PostgreSQL could not store (\\u0000, a lone surrogate): 400 invalid_event saying why; bytes that are not UTF-8 or nesting too deep are refused at the edge; nothing stored', async () => {
    const bodies: Array<[string | Buffer, string, RegExp]> = [
      [JSON.stringify(validEvent('cus_Nul1')).replace('"cus_Nul1@example.com"', '"nul\\u0000@example.com"'), 'invalid_event', /\\u0000/],
      [JSON.stringify(validEvent('cus_Surrogate1')).replace('"cus_Surrogate1@example.com"', '"\\ud83d alone"'), 'invalid_event', /lone surrogate/],
      [JSON.stringify(validEvent('cus_Low1')).replace('"cus_Low1@example.com"', '"\\udc00"'), 'invalid_event', /lone surrogate/],
      [Buffer.concat([Buffer.from(JSON.stringify(validEvent('cus_Latin1')).slice(0, -1) + ',"name":"Zo'), Buffer.from([0xeb]), Buffer.from('"}')]), 'invalid_utf8', /UTF-8/],
      [JSON.stringify({ ...validEvent('cus_Deep1'), extra: JSON.parse('['.repeat(1500) + ']'.repeat(1500)) }), 'too_deep', /deep/],
    ];
    for (const [body, code, reason] of bodies) {
      // JSON.parse takes every one of them; PostgreSQL's jsonb would not.
      if (typeof body === 'string') JSON.parse(body);
      const answer = await post(stack.apiUrl, target.id, body, stripeSignature(body.toString(), SECRET));
      assertError(answer, 400, code, reason);
    }
    const { rows } = await stack.pool.query('SELECT count(*)::int AS n FROM ingest_inbox WHERE integration_id = $1', [target.id]);
    assert.equal(rows[0].n, 0, 'nothing in the inbox');
    await assertNothingChanged();
  });

  test('with Temporal unreachable: the API still accepts (2xx once in the inbox), and the worker\'s sweep applies the events', async () => {
    const other = await createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: SECRET });
    // Same task queue as this file's worker, which runs the sweep against the real Temporal.
    const down = await startStack({
      env: { TEMPORAL_ADDRESS: `127.0.0.1:${await closedPort()}`, HOOKSYNC_TASK_QUEUE: stack.config.HOOKSYNC_TASK_QUEUE },
      worker: false,
    });
    try {
      const started = Date.now();
      for (let i = 0; i < 3; i++) {
        const answer = await postEvent(down.apiUrl, other.id, validEvent(`cus_TemporalDown${i}`), SECRET);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.body, { received: true });
      }
      // Answered as soon as PostgreSQL has them: no waiting for Temporal.
      assert.ok(Date.now() - started < 5_000, `answered after ${Date.now() - started} ms`);
      const ready = await fetch(`${down.apiUrl}/readyz`);
      assert.equal(ready.status, 200, 'ready: webhooks need only PostgreSQL');
      assert.equal(((await ready.json()) as { status: string }).status, 'degraded');
      const rows = await waitFor(async () => {
        const { rows } = await stack.pool.query(`SELECT stripe_id FROM ${other.table} ORDER BY 1`);
        return rows.length === 3 && rows.map((r) => r.stripe_id);
      }, { what: 'the 3 events applied by the sweep', timeoutMs: 40_000 });
      assert.deepEqual(rows, ['cus_TemporalDown0', 'cus_TemporalDown1', 'cus_TemporalDown2']);
    } finally {
      await down.close();
    }
  });

  test('with PostgreSQL unreachable: 503, and nothing is half-done', async () => {
    const url = new URL(stack.config.DATABASE_URL);
    url.host = `127.0.0.1:${await closedPort()}`;
    const down = await startStack({ env: { DATABASE_URL: url.toString() }, worker: false });
    try {
      const payload = JSON.stringify(validEvent('cus_PgDown1'));
      const answer = await post(down.apiUrl, target.id, payload, stripeSignature(payload, SECRET));
      assertError(answer, 503, 'unavailable', /PostgreSQL/);
      const ready = await fetch(`${down.apiUrl}/readyz`);
      assert.equal(ready.status, 503);
    } finally {
      await down.close();
    }
    await assertNothingChanged();
  });

  test('after all of it, the target integration has no row and no ingest workflow, not even in visibility', async () => {
    await assertNothingChanged();
    assert.deepEqual(await workflowsOfIntegration(stack.temporal.client, target.id), []);
  });
});

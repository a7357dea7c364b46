import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { createApp } from '../src/api/app';
import { waitForBackfill } from '../src/services/backfill';
import { startStack, type Stack } from './support/harness';
import { WEBHOOK_SECRET } from './support/httpsync';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, stripeSignature } from './support/stripe';

/**
 * /v1/openapi.json against the router: every route served is documented and every documented
 * route is served; request bodies are validated by the documented schemas; and a real answer of
 * each route (and its errors) validates against the schema the document gives for its status.
 * The document's own JSON Schemas are used (through z.fromJSONSchema), not the zod schemas it was
 * generated from, so the generation is checked too.
 */

const TOKEN = 'openapi-test-token-0123456789';
type Json = any;

describe('the OpenAPI document', () => {
  let stack: Stack;
  let receiver: Receiver;
  let doc: Json;
  const covered = new Set<string>();

  before(async () => {
    [stack, receiver] = await Promise.all([startStack({ env: { HOOKSYNC_API_TOKEN: TOKEN } }), startReceiver()]);
  });
  after(async () => {
    await Promise.allSettled([stack?.close(), receiver?.close()]);
  });

  /** The schema with every $ref to #/components/schemas replaced by what it names. */
  function deref(schema: Json): Json {
    if (Array.isArray(schema)) return schema.map(deref);
    if (!schema || typeof schema !== 'object') return schema;
    if (typeof schema.$ref === 'string') {
      const id = /^#\/components\/schemas\/(.+)$/.exec(schema.$ref)?.[1];
      assert.ok(id && doc.components.schemas[id], `unresolved $ref ${schema.$ref}`);
      return deref(doc.components.schemas[id]);
    }
    return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, deref(v)]));
  }

  /** The documented operation a concrete request hits. */
  function operationOf(method: string, path: string): Json {
    for (const [template, ops] of Object.entries<Json>(doc.paths)) {
      const re = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
      if (re.test(path.split('?')[0]!) && ops[method.toLowerCase()]) return ops[method.toLowerCase()];
    }
    assert.fail(`no documented operation for ${method} ${path}`);
  }

  /** Validates an answer against the schema documented for its status, and counts the operation as covered. */
  function conforms(method: string, path: string, answer: { status: number; body: unknown }): void {
    const op = operationOf(method, path);
    const response = op.responses[answer.status] ?? op.responses.default;
    assert.ok(op.responses[answer.status], `${op.operationId}: status ${answer.status} is documented (${Object.keys(op.responses)})`);
    const schema = z.fromJSONSchema(deref(response.content['application/json'].schema));
    const result = schema.safeParse(answer.body);
    assert.ok(result.success, `${op.operationId} ${answer.status}: ${JSON.stringify(answer.body)} does not match: ${result.error?.message}`);
    covered.add(op.operationId);
  }

  async function call(method: string, path: string, body?: unknown, opts: { token?: boolean } = {}) {
    const res = await fetch(`${stack.apiUrl}${path}`, {
      method,
      headers: { ...(opts.token === false ? {} : { authorization: `Bearer ${TOKEN}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = { status: res.status, body: (await res.json()) as Json };
    conforms(method, path, answer);
    return answer;
  }

  test('is OpenAPI 3.1, served without a token, with every reference resolving', async () => {
    const res = await fetch(`${stack.apiUrl}/v1/openapi.json`);
    assert.equal(res.status, 200);
    doc = await res.json();
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
    deref(doc.paths);
    conforms('GET', '/v1/openapi.json', { status: 200, body: doc });
  });

  test('documents exactly the routes the router serves', () => {
    const app = createApp(stack.deps);
    after(() => app.ingest.close());
    const served = new Set(
      app.router
        .stack.filter((layer) => layer.methods.length > 0)
        .flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path}`)),
    );
    const documented = new Set(
      Object.entries<Json>(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)),
    );
    assert.deepEqual([...served].sort(), [...documented].sort());
    for (const [path, ops] of Object.entries<Json>(doc.paths)) {
      for (const [method, op] of Object.entries<Json>(ops)) {
        assert.ok(op.operationId && op.summary && op.responses.default, `${method} ${path}`);
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          assert.ok(op.parameters.some((p: Json) => p.in === 'path' && `{${p.name}}` === name), `${op.operationId} documents ${name}`);
        }
        // The management API is behind the token; the rest is not.
        assert.deepEqual(op.security, ['integrations', 'httpsync'].includes(op.tags[0]) ? [{ bearer: [] }] : [], op.operationId);
      }
    }
  });

  test('request bodies: what the document refuses, the server refuses (400), and what it takes passes validation', async () => {
    const bodies: Record<string, { bad: unknown[]; good: unknown }> = {
      createIntegration: { bad: [{}, { service: 1 }, { service: 'stripe_customer_v1', extra: true }], good: { service: 'stripe_customer_v1' } },
      updateIntegration: { bad: [{ rate_limit_per_second: -1 }, { rate_limit_per_second: 'fast' }, { webhook_secret: 7 }], good: { rate_limit_per_second: 10 } },
      createTarget: { bad: [{ url: 'x' }, { integration_id: 'svi_x', url: 'https://u:p@h/', page_size: 'big' }, { integration_id: 'svi_x', url: 'u', nope: 1 }], good: undefined },
      updateTarget: { bad: [{ period_seconds: 1.5 }, { mode: 'sometimes' }, { url: 5 }], good: undefined },
      startBackfill: { bad: [{ api_key: 5 }, { api_key: '' }, { api_key: 'sk_test_x', extra: 1 }], good: undefined },
      buildTestEvent: { bad: [{ key: '' }, { deleted: 'yes' }, { key: 'k', extra: 1 }], good: { key: 'cus_openapi_test' } },
    };
    const integration = (await call('POST', '/v1/integrations', { service: 'stripe_customer_v1', webhook_secret: WEBHOOK_SECRET })).body;
    const paths: Record<string, [string, string]> = {
      createIntegration: ['POST', '/v1/integrations'],
      updateIntegration: ['PATCH', `/v1/integrations/${integration.id}`],
      createTarget: ['POST', '/v1/httpsync'],
      updateTarget: ['PATCH', '/v1/httpsync/hst_doesnotexist'],
      startBackfill: ['POST', `/v1/integrations/${integration.id}/backfill`],
      buildTestEvent: ['POST', `/v1/integrations/${integration.id}/test-event`],
    };
    for (const [operationId, { bad, good }] of Object.entries(bodies)) {
      const [method, path] = paths[operationId]!;
      const op = operationOf(method, path);
      assert.equal(op.operationId, operationId);
      const schema = z.fromJSONSchema(deref(op.requestBody.content['application/json'].schema));
      for (const b of bad) {
        assert.equal(schema.safeParse(b).success, false, `the document refuses ${JSON.stringify(b)} for ${operationId}`);
        const answer = await call(method, path, b);
        assert.equal(answer.status, 400, `${operationId} ${JSON.stringify(b)}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.code, 'invalid');
      }
      if (good !== undefined) {
        assert.equal(schema.safeParse(good).success, true);
        assert.ok((await call(method, path, good)).status < 300);
      }
    }
  });

  test('each route answers as its document says, successes and errors', async () => {
    assert.equal((await call('GET', '/healthz', undefined, { token: false })).status, 200);
    assert.equal((await call('GET', '/readyz', undefined, { token: false })).status, 200);

    const integration = (await call('POST', '/v1/integrations', { service: 'stripe_customer_v1', webhook_secret: WEBHOOK_SECRET })).body;
    assert.equal((await call('GET', '/v1/integrations')).status, 200);
    assert.equal((await call('GET', `/v1/integrations/${integration.id}`)).status, 200);
    assert.equal((await call('PATCH', `/v1/integrations/${integration.id}`, { rate_limit_per_second: 100 })).body.rate_limit_per_second, 100);
    assert.equal((await call('GET', '/v1/integrations/svi_doesnotexist')).status, 404);
    assert.equal((await call('POST', `/v1/integrations/${integration.id}/retry-failed`, { wait_seconds: 0 })).body.requeued, 0);
    assert.equal((await call('POST', `/v1/integrations/${integration.id}/retry-failed`, { wait_seconds: 100_000 })).status, 400);
    assert.equal((await call('GET', '/v1/integrations', undefined, { token: false })).status, 401);
    const sample = await call('POST', `/v1/integrations/${integration.id}/test-event`, {});
    assert.equal(sample.status, 200);
    assert.equal(sample.body.webhook_path, `/v1/webhooks/${integration.id}`);
    assert.equal((await call('POST', '/v1/integrations/svi_doesnotexist/test-event', {})).status, 404);

    const webhook = async (event: unknown, integrationId = integration.id) => {
      const payload = JSON.stringify(event);
      const path = `/v1/webhooks/${integrationId}`;
      const res = await fetch(`${stack.apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET) },
        body: payload,
      });
      const answer = { status: res.status, body: (await res.json()) as Json };
      conforms('POST', path, answer);
      return answer;
    };
    const created = customerEvent({ type: 'customer.created', id: 'cus_openapi1', created: 1_760_000_000, email: 'o@example.com' });
    assert.equal((await webhook(created)).status, 200);
    assert.ok((await webhook({ ...created, type: 'invoice.paid' })).body.ignored);
    assert.equal((await webhook(created, 'svi_doesnotexist')).status, 404);

    const target = (await call('POST', '/v1/httpsync', { integration_id: integration.id, url: receiver.url, period_seconds: 3600 })).body;
    assert.equal((await call('POST', '/v1/httpsync', { integration_id: integration.id, url: 'https://u:p@127.0.0.2/x' })).status, 422);
    assert.equal((await call('GET', `/v1/httpsync?integration_id=${integration.id}`)).body.targets.length, 1);
    const info = await call('GET', `/v1/httpsync/${target.id}`);
    // The check has teeth: an undocumented key or a wrong type does not conform.
    assert.throws(() => conforms('GET', `/v1/httpsync/${target.id}`, { status: 200, body: { ...info.body, undocumented: 1 } }), /does not match/);
    assert.throws(() => conforms('GET', `/v1/httpsync/${target.id}`, { status: 200, body: { ...info.body, rows_delivered: '5' } }), /does not match/);
    assert.throws(() => conforms('GET', `/v1/httpsync/${target.id}`, { status: 418, body: {} }), /is documented/);
    assert.equal((await call('PATCH', `/v1/httpsync/${target.id}`, { page_size: 50 })).body.page_size, 50);
    assert.equal((await call('GET', `/v1/httpsync/${target.id}/progress`)).body.id, target.id);
    for (const verb of ['trigger', 'pause', 'resume', 'restart']) assert.equal((await call('POST', `/v1/httpsync/${target.id}/${verb}`)).status, 200, verb);
    assert.equal((await call('POST', `/v1/httpsync/${target.id}/reset`, { from_start: true })).body.workflow_told, true);
    assert.equal((await call('POST', `/v1/httpsync/${target.id}/reset`, {})).status, 400);
    assert.equal((await call('GET', `/v1/integrations/${integration.id}/backfill`)).body.state, 'never');
    assert.equal((await call('POST', `/v1/integrations/${integration.id}/backfill`, { api_key: 'sk_test_openapi123', api_base: 'https://10.9.8.7' })).status, 422);
    assert.equal((await call('POST', `/v1/integrations/${integration.id}/backfill`, { api_key: 'whsec_notakey' })).status, 400);
    assert.equal((await call('POST', '/v1/integrations/svi_doesnotexist/backfill', { api_key: 'sk_test_openapi123' })).status, 404);
    // Started for real (202); the receiver answers GET with 405, so the backfill ends as failed.
    const receiverBase = new URL(receiver.url).origin;
    const started = await call('POST', `/v1/integrations/${integration.id}/backfill`, { api_key: 'sk_test_openapi123', api_base: receiverBase });
    assert.equal(started.status, 202);
    assert.equal(started.body.started, true);
    await waitForBackfill(stack.deps, integration.id);
    assert.equal((await call('GET', `/v1/integrations/${integration.id}/backfill`)).body.state, 'failed');
    assert.match(target.signing_secret, /^whsec_/);
    const rotated = (await call('POST', `/v1/httpsync/${target.id}/rotate-signing-secret`)).body;
    assert.match(rotated.signing_secret, /^whsec_/);
    assert.notEqual(rotated.signing_secret, target.signing_secret);
    assert.ok(Date.parse(rotated.previous_secret_expires_at) > Date.now());
    assert.equal((await call('POST', '/v1/httpsync/hst_doesnotexist/rotate-signing-secret')).status, 404);
    assert.equal((await call('DELETE', `/v1/httpsync/${target.id}`)).status, 200);
    assert.equal((await call('GET', `/v1/httpsync/${target.id}`)).status, 404);

    const other = (await call('POST', '/v1/integrations', { service: 'standard_webhooks_v1', remote_key: '/data/id', timestamp: '/data/at' })).body;
    assert.deepEqual(other.config, { remote_key: '/data/id', timestamp: '/data/at' });
    assert.equal((await call('POST', '/v1/integrations', { service: 'standard_webhooks_v1', remote_key: 'data' })).status, 400);
    assert.deepEqual((await call('DELETE', `/v1/integrations/${other.id}`)).body.targets, []);
    assert.equal((await call('DELETE', `/v1/integrations/${other.id}`)).status, 404);

    const all = Object.values<Json>(doc.paths).flatMap((ops) => Object.values<Json>(ops).map((op) => op.operationId));
    assert.deepEqual(all.filter((id) => !covered.has(id)), [], 'every documented operation was called');
  });
});

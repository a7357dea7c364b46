import assert from 'node:assert/strict';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { createApp } from '../src/api/app';
import { MAX_JSON_DEPTH } from '../src/api/raw-body';
import { createApiServer } from '../src/api/request-guard';
import { ConfigError, loadConfig } from '../src/config';
import { startApi } from '../src/processes';
import { createPool } from '../src/db/pool';
import type { IntegrationView } from '../src/services/integrations';
import { startStack, waitFor, type Stack } from './support/harness';
import { newIntegration, runCli, stackEnv, WEBHOOK_SECRET } from './support/httpsync';
import { closedPort, existingIngestWorkflows, rowOf } from './support/ingest';
import { customerEvent, stripeSignature } from './support/stripe';

/**
 * The API's edges: hostile or broken requests get a 4xx `{code, detail}` (never a 5xx, never a
 * crash) and change nothing; server timeouts end slow requests; every error of the router and the
 * body checks has the one shape; the management API's tokens; the per-integration rate limit.
 */

const TOKEN_A = 'edge-token-a-0123456789abcdef';
const TOKEN_B = 'edge-token-b-fedcba9876543210';

interface RawAnswer {
  status?: number;
  headers: Record<string, string>;
  body: any;
  /** ms from the first byte written until the answer (or the close). */
  ms: number;
}

/**
 * Writes raw bytes on a new connection and reads the answer until the server closes it (requests
 * say `Connection: close`). With `halfClose`, the client then ends its side, as a client that stops
 * early does (Node's server then drops the request).
 */
function raw(port: number, chunks: Array<string | Buffer>, opts: { halfClose?: boolean; timeoutMs?: number; gapMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const data: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${opts.timeoutMs ?? 10_000} ms; got: ${Buffer.concat(data).toString()}`));
    }, opts.timeoutMs ?? 10_000);
    socket.on('data', (d) => data.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(data).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const bodyText = rest.join('\r\n\r\n');
      let body: any = bodyText;
      try {
        body = JSON.parse(bodyText);
      } catch {
        // kept as text
      }
      const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
      resolve({ status: status ? Number(status) : undefined, headers, body, ms: Date.now() - started });
    });
    const send = async () => {
      for (const c of chunks) {
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.halfClose) socket.end();
    };
    socket.on('connect', () => void send());
  });
}

/** An HTTP/1.1 request with `Connection: close` and the given headers and body. */
function request(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Buffer {
  const b = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const lines = [`${method} ${path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) lines.push(`content-length: ${b.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), b]);
}

function assertError(answer: { status?: number; body: any }, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body ?? {}).sort(), ['code', 'detail'], JSON.stringify(answer.body));
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.ok(typeof answer.body.detail === 'string' && answer.body.detail.length > 0);
}

describe('the API edges', () => {
  let stack: Stack;
  let server: http.Server;
  let port: number;
  let integration: IntegrationView;
  /** Where the requests that must be accepted go, so that `integration` stays empty. */
  let control: IntegrationView;
  const logged: Array<{ level: number; msg: string; [k: string]: unknown }> = [];

  before(async () => {
    stack = await startStack({ worker: true, env: { HOOKSYNC_API_TOKEN: ` ${TOKEN_A} , ${TOKEN_B}` } });
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, cb) {
          for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line));
          cb();
        },
      }),
    );
    // The production server with short timeouts, and a logger this test reads.
    server = createApiServer(createApp({ ...stack.deps, logger }).callback(), { headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    [integration, control] = await Promise.all([newIntegration(stack), newIntegration(stack)]);
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await stack?.close();
  });

  const webhookPath = (of = integration) => `/v1/webhooks/${of.id}`;
  let seq = 0;
  const event = (extra: Record<string, unknown> = {}) => {
    seq++;
    const e = customerEvent({ type: 'customer.created', id: `cus_edge${seq}`, created: 1_760_000_000 + seq, email: `edge${seq}@example.com` });
    Object.assign(e.data.object, extra);
    return e;
  };
  /** A webhook request whose signature is right, so whatever refuses it is the check under test. */
  const signed = (payload: string | Buffer, headers: Record<string, string> = {}, of = integration) =>
    request('POST', webhookPath(of), { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload.toString('latin1'), WEBHOOK_SECRET), ...headers }, payload);
  const auth = { authorization: `Bearer ${TOKEN_A}` };

  /** No row and no ingest workflow for the integration; no error logged (nothing here is a 5xx). */
  async function assertNothingChanged(): Promise<void> {
    const { rows } = await stack.pool.query(`SELECT count(*)::int AS n FROM ${integration.table}`);
    assert.equal(rows[0].n, 0, 'no row');
    assert.deepEqual(await existingIngestWorkflows(stack.temporal.client, integration.id, stack.config.HOOKSYNC_INGEST_SHARDS), [], 'no ingest workflow');
    assert.deepEqual(logged.filter((l) => l.level >= 50), [], 'nothing logged as an error');
    assert.ok(server.listening);
  }

  test('too many headers, or headers too large: 431, on the webhook endpoint and the management API', async () => {
    const many = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`x-filler-${i}`, 'y']));
    assertError(await raw(port, [signed(JSON.stringify(event()), many)]), 431, 'too_many_headers');
    assertError(await raw(port, [request('GET', '/v1/integrations', { ...auth, ...many })]), 431, 'too_many_headers');
    const huge = { 'x-big': 'z'.repeat(20 * 1024) };
    assertError(await raw(port, [signed(JSON.stringify(event()), huge)]), 431, 'headers_too_large');
    assertError(await raw(port, [request('GET', '/v1/integrations', { ...auth, ...huge })]), 431, 'headers_too_large');
    assertError(await raw(port, [request('GET', `/v1/integrations/${'x'.repeat(20 * 1024)}`, auth)]), 431, 'headers_too_large');
    await assertNothingChanged();
  });

  test(`JSON nested deeper than ${MAX_JSON_DEPTH} levels: 400, before it is parsed or stored`, async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const tooDeep = JSON.stringify(event({ metadata: { nest: 'PLACEHOLDER' } })).replace('"PLACEHOLDER"', deep(MAX_JSON_DEPTH));
    assertError(await raw(port, [signed(tooDeep)]), 400, 'too_deep');
    // Brackets inside strings are text, not nesting.
    const inString = JSON.stringify(event({ description: deep(500) }));
    assert.equal((await raw(port, [signed(inString, {}, control)])).status, 200);
    assertError(await raw(port, [request('POST', '/v1/integrations', { ...auth, 'content-type': 'application/json' }, `{"service":${deep(200)}}`)]), 400, 'too_deep');
    await assertNothingChanged();
  });

  test('invalid UTF-8: 400, on both', async () => {
    const bad = Buffer.concat([Buffer.from(JSON.stringify(event()).slice(0, -2)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    assertError(await raw(port, [signed(bad)]), 400, 'invalid_utf8');
    assertError(
      await raw(port, [request('POST', '/v1/integrations', { ...auth, 'content-type': 'application/json' }, Buffer.concat([Buffer.from('{"service":"'), Buffer.from([0xfe, 0xfe]), Buffer.from('"}')]))]),
      400,
      'invalid_utf8',
    );
    await assertNothingChanged();
  });

  test('another content type than JSON in UTF-8: 415, on both', async () => {
    const payload = JSON.stringify(event());
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=iso-8859-1']) {
      assertError(await raw(port, [signed(payload, { 'content-type': type })]), 415, 'unsupported_media_type');
      assertError(await raw(port, [request('POST', '/v1/integrations', { ...auth, 'content-type': type }, '{"service":"stripe_customer_v1"}')]), 415, 'unsupported_media_type');
    }
    const untyped = request('POST', webhookPath(), { 'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET) }, payload);
    assertError(await raw(port, [untyped]), 415, 'unsupported_media_type');
    // A type with +json is JSON; a POST without a body needs no type.
    assert.equal((await raw(port, [signed(JSON.stringify(event()), { 'content-type': 'application/vnd.stripe+json; charset=utf-8' }, control)])).status, 200);
    await assertNothingChanged();
  });

  test('a truncated body (the client stops early) or more bytes than Content-Length: 400 or a closed connection, never 5xx', async () => {
    const payload = JSON.stringify(event());
    const full = signed(payload);
    const headEnd = full.indexOf('\r\n\r\n') + 4;
    // Half of the body, then the client closes its side.
    const cut = await raw(port, [full.subarray(0, headEnd + Math.floor(payload.length / 2))], { halfClose: true });
    assert.ok(cut.status === undefined || cut.status === 400, `status ${cut.status}: ${JSON.stringify(cut.body)}`);
    if (cut.status) assertError(cut, 400, cut.body.code);
    // Content-Length says more than is ever sent: the request timeout ends it.
    const short = request('POST', webhookPath(), { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET), 'content-length': String(payload.length + 100) }, payload);
    const stalled = await raw(port, [short], { timeoutMs: 10_000 });
    assert.ok(stalled.status === undefined || (stalled.status >= 400 && stalled.status < 500), `status ${stalled.status}`);
    // Content-Length says less: the rest is read as a next request, which is not HTTP.
    const long = request('POST', webhookPath(), { 'content-type': 'application/json', 'stripe-signature': 'x', 'content-length': '5', connection: 'keep-alive' }, payload);
    const answers = await raw(port, [long]);
    assert.ok(answers.status! >= 400 && answers.status! < 500, `status ${answers.status}`);
    // A client that vanishes mid-body.
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(full.subarray(0, headEnd + 10));
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 100);
      });
      s.on('error', () => {});
    });
    // The server stays up and answers the next one.
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    await assertNothingChanged();
  });

  test('server timeouts end slow requests with 408; an idle keep-alive connection is not one', async () => {
    // Headers never completed (slow loris): the headers timeout (1 s here, 10 s by default).
    const loris = await raw(port, ['POST /v1/integrations HTTP/1.1\r\nhost: x\r\n', 'x-slow: 1\r\n'], { timeoutMs: 8_000, gapMs: 300 });
    assertError(loris, 408, 'request_timeout');
    assert.ok(loris.ms < 5_000, `${loris.ms} ms`);
    // Keep-alive: a second request well after the headers timeout goes through on the same connection.
    const answers: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n'));
      s.on('data', (d) => {
        for (const m of d.toString().matchAll(/HTTP\/1\.1 (\d{3})/g)) answers.push(Number(m[1]));
        if (answers.length === 1) setTimeout(() => s.write('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'), 2_500);
      });
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    assert.deepEqual(answers, [200, 200]);
  });

  test('unknown routes 404, wrong methods 405 with Allow, OPTIONS 204: all {code, detail}', async () => {
    const base = `http://127.0.0.1:${port}`;
    const answer = async (res: Response) => ({ status: res.status, body: await res.json().catch(() => undefined), allow: res.headers.get('allow') });
    assertError(await answer(await fetch(`${base}/nowhere`)), 404, 'not_found');
    assertError(await answer(await fetch(`${base}/v1/httpsync/x/y/z`, { headers: auth })), 404, 'not_found');
    const put = await answer(await fetch(`${base}/v1/integrations`, { method: 'PUT', headers: auth }));
    assertError(put, 405, 'method_not_allowed');
    assert.deepEqual(put.allow!.split(', ').sort(), ['GET', 'HEAD', 'POST']);
    const get = await answer(await fetch(`${base}${webhookPath()}`));
    assertError(get, 405, 'method_not_allowed');
    assert.equal(get.allow, 'POST');
    const propfind = await raw(port, [request('PROPFIND', '/healthz', {})]);
    assertError(propfind, 405, 'method_not_allowed');
    const options = await fetch(`${base}/v1/httpsync/hst_x`, { method: 'OPTIONS' });
    assert.equal(options.status, 204);
    assert.deepEqual(options.headers.get('allow')!.split(', ').sort(), ['DELETE', 'GET', 'HEAD', 'PATCH']);
    // Not HTTP at all: Node's parser refuses it, in the same shape.
    assertError(await raw(port, ['NOT-HTTP\r\n\r\n']), 400, 'bad_request');
  });

  test('errors of body parsing and validation: 400 or 413 with {code, detail}, and nothing created', async () => {
    const post = (body: string | Buffer) => raw(port, [request('POST', '/v1/integrations', { ...auth, 'content-type': 'application/json' }, body)]);
    const marker = 'whsec_edge_marker_';
    assertError(await post(`{"service": "stripe_customer_v1", "webhook_secret": "${marker}1" `), 400, 'invalid');
    assertError(await post(JSON.stringify({ service: 'stripe_customer_v1', webhook_secret: `${marker}2`, extra: 1 })), 400, 'invalid');
    assertError(await post(JSON.stringify({ service: 'stripe_customer_v1', webhook_secret: marker + 'x'.repeat(1024 * 1024) })), 413, 'body_too_large');
    // (The database is shared with other test files: look for these requests' own secrets.)
    const { rows } = await stack.pool.query(`SELECT count(*)::int AS n FROM integrations WHERE webhook_secret LIKE $1`, [`${marker}%`]);
    assert.equal(rows[0].n, 0, 'no integration was created');
  });

  test('tokens: each of the comma-separated ones works; anything else 401; no token configured 404', async () => {
    const base = `http://127.0.0.1:${port}/v1/integrations`;
    for (const header of [`Bearer ${TOKEN_A}`, `Bearer ${TOKEN_B}`, `bearer ${TOKEN_B}`]) {
      assert.equal((await fetch(base, { headers: { authorization: header } })).status, 200, header);
    }
    for (const header of ['', `Bearer ${TOKEN_A.slice(0, -1)}`, `Bearer ${TOKEN_A}x`, `Bearer ${TOKEN_A},${TOKEN_B}`, `Basic ${TOKEN_A}`, TOKEN_A, 'Bearer ']) {
      const res = await fetch(base, { headers: header ? { authorization: header } : {} });
      assertError({ status: res.status, body: await res.json() }, 401, 'unauthorized');
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="hooksync"');
    }
    const { HOOKSYNC_API_TOKEN: _none, ...withoutToken } = stack.config;
    const off = createApiServer(createApp({ ...stack.deps, config: { ...withoutToken } as typeof stack.config }).callback());
    await new Promise<void>((resolve) => off.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(off.address() as AddressInfo).port}/v1/integrations`, { headers: { authorization: `Bearer ${TOKEN_A}` } });
      assertError({ status: res.status, body: await res.json() }, 404, 'management_disabled');
    } finally {
      off.closeAllConnections();
      await new Promise((r) => off.close(r));
    }
    // Tokens shorter than 16 characters, or with blanks inside, are refused at start-up.
    for (const bad of ['short', `${TOKEN_A},short`, 'has a space in it 0123456789', ',']) {
      assert.throws(() => loadConfig({ ...process.env, HOOKSYNC_API_TOKEN: bad }), (err: Error) => err instanceof ConfigError && /HOOKSYNC_API_TOKEN/.test(err.message), bad);
    }
  });

  test('/readyz says which dependency failed, never why; the reason goes to the log', async () => {
    const pool = createPool(`postgres://u:ready-Secr3t@127.0.0.1:${await closedPort()}/x`, 1);
    const logger = pino({ level: 'info' }, new Writable({ write: (c, _e, cb) => (readyLog.push(c.toString()), cb()) }));
    const readyLog: string[] = [];
    const down = createApiServer(createApp({ ...stack.deps, pool, logger }).callback());
    await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(down.address() as AddressInfo).port}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', checks: { postgres: 'failed', temporal: 'ok' } });
      await waitFor(async () => readyLog.some((l) => /not ready/.test(l) && /ECONNREFUSED|connect/.test(l)), { what: 'the reason in the log' });
    } finally {
      down.closeAllConnections();
      await new Promise((r) => down.close(r));
      await pool.end();
    }
  });
});

describe('hooksync api: /metrics on HOOKSYNC_METRICS_PORT only', () => {
  test('off by default; on 127.0.0.1 when given a port; never on the API port', async () => {
    const base = { ...process.env, PORT: '0', HOOKSYNC_TASK_QUEUE: 'test-metrics-port' };
    const plain = await startApi(loadConfig(base), { host: '127.0.0.1' });
    try {
      assert.equal(plain.metricsUrl, undefined);
      assert.equal((await fetch(`${plain.url}/metrics`)).status, 404);
    } finally {
      await plain.close();
    }
    const api = await startApi(loadConfig({ ...base, HOOKSYNC_METRICS_PORT: '0' }), { host: '127.0.0.1' });
    try {
      assert.match(api.metricsUrl!, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(api.metricsUrl!);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      assert.match(await res.text(), /^hooksync_process_cpu_seconds_total /m);
      assert.equal((await fetch(api.metricsUrl!.replace('/metrics', '/other'))).status, 404);
      assert.equal((await fetch(`${api.url}/metrics`)).status, 404);
    } finally {
      await api.close();
    }
  });
});

describe('the per-integration rate limit', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ env: { HOOKSYNC_API_TOKEN: TOKEN_A } });
  });
  after(async () => {
    await stack?.close();
  });

  let seq = 0;
  /** Sends `n` distinct events at once; returns each one's key and answer. */
  async function burst(integrationId: string, n: number) {
    return Promise.all(
      Array.from({ length: n }, async () => {
        seq++;
        const key = `cus_rate${seq}`;
        const payload = JSON.stringify(customerEvent({ type: 'customer.created', id: key, created: 1_760_000_000 + seq, email: `${key}@example.com` }));
        const res = await fetch(`${stack.apiUrl}/v1/webhooks/${integrationId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(payload, WEBHOOK_SECRET) },
          body: payload,
        });
        return { key, status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
      }),
    );
  }

  test('past the limit: 429 with Retry-After; what was accepted is applied, what was refused left no row', async () => {
    const limited = await newIntegration(stack);
    const other = await newIntegration(stack);
    const patched = await fetch(`${stack.apiUrl}/v1/integrations/${limited.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rate_limit_per_second: 4 }),
    });
    assert.equal(patched.status, 200);
    assert.equal(((await patched.json()) as IntegrationView).rate_limit_per_second, 4);

    const answers = await burst(limited.id, 24);
    const accepted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    assert.equal(accepted.length + refused.length, answers.length, JSON.stringify(answers.map((a) => a.status)));
    // A bucket of one second's worth (4), plus what refills while the burst is sent.
    assert.ok(accepted.length >= 4 && accepted.length <= 12, `${accepted.length} accepted`);
    assert.ok(refused.length >= 12, `${refused.length} refused`);
    for (const r of refused) {
      assert.deepEqual(Object.keys(r.body).sort(), ['code', 'detail']);
      assert.equal(r.body.code, 'rate_limited');
      assert.ok(Number(r.retryAfter) >= 1, `Retry-After ${r.retryAfter}`);
    }
    // Another integration is not held back by this one's limit.
    assert.ok((await burst(other.id, 10)).every((a) => a.status === 200));

    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${limited.table}`)).rows[0].n === accepted.length, {
      what: `the ${accepted.length} accepted events as rows`,
    });
    for (const a of accepted) assert.ok(await rowOf(stack.pool, limited.table, a.key), a.key);
    for (const r of refused) assert.equal(await rowOf(stack.pool, limited.table, r.key), undefined, r.key);
  });

  test('the CLI sets and removes it (--rate-limit N, 0 or off); a bad value changes nothing', async () => {
    const i = await newIntegration(stack);
    const cli = (...args: string[]) => runCli(['integrations', 'update', i.id, ...args], { env: stackEnv(stack) });
    const set = await cli('--rate-limit', '2.5', '--json');
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).rate_limit_per_second, 2.5);
    const human = await cli('--rate-limit', '3');
    assert.match(human.stdout, /Rate limit of svi_\w+: 3 events per second per API process/);
    for (const bad of ['-1', 'fast', '2000000']) {
      const r = await cli('--rate-limit', bad);
      assert.equal(r.code, 1, `${bad}: ${r.stdout}`);
      assert.match(r.stderr, /rate-limit|events per second/);
    }
    const none = await cli();
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--webhook-secret or --rate-limit/);
    const { rows } = await stack.pool.query('SELECT rate_limit_per_second FROM integrations WHERE id = $1', [i.id]);
    assert.equal(rows[0].rate_limit_per_second, 3);
    for (const off of ['0', 'off']) {
      await cli('--rate-limit', '5');
      const removed = await cli('--rate-limit', off, '--json');
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(JSON.parse(removed.stdout).rate_limit_per_second, null);
    }
    const list = await runCli(['integrations', 'list'], { env: stackEnv(stack) });
    assert.match(list.stdout, /rate limit/);
  });

  test('a removed limit stops refusing within the cache time', async () => {
    const i = await newIntegration(stack);
    const patch = (limit: number | null) =>
      fetch(`${stack.apiUrl}/v1/integrations/${i.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
        body: JSON.stringify({ rate_limit_per_second: limit }),
      });
    assert.equal((await patch(1)).status, 200);
    assert.ok((await burst(i.id, 6)).some((a) => a.status === 429));
    assert.equal((await patch(null)).status, 200);
    await waitFor(async () => (await burst(i.id, 6)).every((a) => a.status === 200), { timeoutMs: 15_000, intervalMs: 1_000, what: 'the limit to be gone' });
  });
});

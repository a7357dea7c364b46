import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Child } from './support/children';
import { freePort } from '../src/ports';
import { startApiProcess } from './support/cluster';
import { startStack, waitFor, type Stack } from './support/harness';
import { newIntegration, stackEnv, WEBHOOK_SECRET } from './support/httpsync';
import { customerEvent, stripeSignature } from './support/stripe';
import { migratedSchema, type Schema } from './support/database';

/**
 * A few thousand random and mutated requests against a running `hooksync api` process: random
 * methods, paths, headers and bodies, signed webhooks with one thing changed, and raw broken HTTP
 * over a socket. Every answer must be a status the OpenAPI document gives for what was asked
 * (404/405 where nothing is documented), never a 5xx, every error `{code, detail}`; the process
 * stays up with bounded memory; and nothing is created: no row in hooksync's tables or the
 * integration's, no workflow.
 */

const TOKEN = 'fuzz-test-token-0123456789abcdef';
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const HTTP_REQUESTS = 5_000;
const RAW_REQUESTS = 1_000;
const CONCURRENCY = 16;
type Json = any;

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Repeated header lines, past the API's limit on their number. */
  manyHeaders?: number;
}

describe('the API under random and broken requests', () => {
  let stack: Stack;
  let own: Schema | undefined;
  let api: { child: Child; url: string };
  let port: number;
  let metricsUrl: string;
  let doc: Json;
  let integrationId: string;
  let table: string;
  const logDir = path.join(__dirname, '..', '.hooksync', `fuzz-${process.pid}`);

  before(async () => {
    // A schema of its own: "nothing created" counts rows that other files, running beside it, do not add to.
    own = await migratedSchema(process.env.DATABASE_URL!, 'fuzz');
    stack = await startStack({ api: false, worker: false, env: { DATABASE_URL: own.url } });
    const integration = await newIntegration(stack);
    integrationId = integration.id;
    table = integration.table;
    const metricsPort = await freePort('127.0.0.1');
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    api = await startApiProcess('api-fuzz', stackEnv(stack, { HOOKSYNC_API_TOKEN: TOKEN, HOOKSYNC_METRICS_PORT: String(metricsPort), LOG_LEVEL: 'error' }), logDir);
    port = Number(new URL(api.url).port);
    doc = await (await fetch(`${api.url}/v1/openapi.json`)).json();
  });
  after(async () => {
    await api?.child.stop();
    await stack?.close();
    await own?.drop();
    require('node:fs').rmSync(logDir, { recursive: true, force: true });
  });

  /** What exists: rows of every table a request could add to, and the workflows of this integration or task queue. */
  async function snapshot() {
    const counts: Record<string, number> = {};
    for (const t of ['integrations', 'sync_targets', 'ingest_inbox', 'ingest_dead_letters', 'ingest_seen_events', table]) {
      counts[t] = Number((await stack.pool.query(`SELECT count(*) FROM ${t}`)).rows[0].count);
    }
    const workflows: string[] = [];
    const query = `HooksyncIntegrationId = '${integrationId}' OR TaskQueue = '${stack.config.HOOKSYNC_TASK_QUEUE}'`;
    for await (const wf of stack.temporal.client.workflow.list({ query })) workflows.push(wf.workflowId);
    return { counts, workflows };
  }

  /** Resident memory (from /proc) and used heap (from the process's own /metrics). */
  async function memory() {
    const text = await (await fetch(metricsUrl)).text();
    const heap = Number(/^hooksync_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]);
    return { rss: api.child.memory()!.rss, heap };
  }

  /** The statuses the document gives for a request; 404 and 405 (204 for OPTIONS) where it documents nothing. */
  function allowedFor(method: string, rawPath: string): Set<number> {
    // As the router sees it: not normalized (%2e%2e stays, no dot segments resolved).
    const pathname = rawPath.split('?')[0]!;
    const allowed = new Set<number>([400, 408, 431]);
    let matched = false;
    for (const [template, ops] of Object.entries<Json>(doc.paths)) {
      if (!new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}/?$`, 'i').test(pathname)) continue;
      matched = true;
      const op = ops[method === 'HEAD' ? 'get' : method.toLowerCase()];
      if (!op) {
        allowed.add(method === 'OPTIONS' ? 204 : 405);
        continue;
      }
      for (const status of Object.keys(op.responses)) if (/^\d+$/.test(status)) allowed.add(Number(status));
    }
    // A path that only looks like a template (an id with an encoded slash, …) may also be no route at all.
    allowed.add(404);
    if (matched) allowed.add(405);
    return allowed;
  }

  /** Every status the document names anywhere, and those of the edges that have no route. */
  function documentedStatuses(): Set<number> {
    const all = new Set<number>([404, 405, 204]);
    for (const ops of Object.values<Json>(doc.paths)) for (const op of Object.values<Json>(ops)) for (const s of Object.keys(op.responses)) if (/^\d+$/.test(s)) all.add(Number(s));
    return all;
  }

  function send(r: FuzzRequest): Promise<{ status: number; body: string } | { skipped: string }> {
    return new Promise((resolve) => {
      let req: http.ClientRequest;
      try {
        const headers: http.OutgoingHttpHeaders = { ...r.headers };
        if (r.manyHeaders) for (let i = 0; i < r.manyHeaders; i++) headers[`x-fuzz-${i}`] = String(i);
        // Framed, whatever the method: a GET's body without a length would be a second, broken request.
        if (r.body) headers['content-length'] = r.body.length;
        req = http.request({ host: '127.0.0.1', port, method: r.method, path: r.path, headers, agent: false, timeout: 15_000 });
      } catch (err) {
        // What Node itself will not send (an invalid method, path or header): the raw tests cover it.
        resolve({ skipped: (err as Error).message });
        return;
      }
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve({ status: res.statusCode!, body: '' }));
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 15 s')));
      // The server may answer and close before the whole body is sent (413, 431): the answer counts.
      req.on('error', (err) => resolve({ skipped: `connection: ${err.message}` }));
      req.end(r.body);
    });
  }

  /** Writes raw bytes, half-closes, and reads whatever comes back until the server closes (or 3 s pass). */
  function sendRaw(bytes: Buffer): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let answer = '';
      const done = () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      };
      const timer = setTimeout(done, 3_000);
      socket.on('data', (c) => (answer += c.toString('latin1')));
      socket.on('error', done);
      socket.on('close', done);
      socket.on('connect', () => {
        socket.write(bytes);
        socket.end();
      });
    });
  }

  async function inParallel<T>(items: T[], run: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < items.length) await run(items[next++]!);
      }),
    );
  }

  // --- what is sent --------------------------------------------------------------------------
  /** Built once the stack is up: they use the integration's id and the document's paths. */
  function arbitraries() {

    const templates = () => Object.keys(doc.paths);
    const id = () =>
      fc.oneof(
        fc.constant(integrationId),
        fc.constantFrom('svi_doesnotexist', 'hst_doesnotexist', 'hst_', '%00', '..', '%2e%2e', '%E0%A4%A', '%ff', 'a'.repeat(3_000), '%2F', '~', ''),
        fc.stringMatching(/^[A-Za-z0-9_.~-]{1,40}$/),
        fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s)),
      fc.constant('%ED%A0%80'),
      );
    const pathArb = () =>
      fc
        .tuple(
          fc.oneof(
            { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...templates()), id(), id()).map(([t, a, b]) => t.replace('{id}', a).replace('{integrationId}', b)) },
            { weight: 1, arbitrary: fc.webPath() },
            { weight: 1, arbitrary: fc.array(fc.constantFrom('v1', 'webhooks', 'integrations', 'httpsync', 'progress', 'metrics', '.', '..', '%2e', 'x'), { maxLength: 6 }).map((p) => `/${p.join('/')}`) },
          ),
          fc.option(fc.webQueryParameters(), { nil: undefined }),
        )
        .map(([p, q]) => (q === undefined ? p : `${p}?${q}`));
    const contentType = fc.constantFrom(
      undefined,
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      '*/*',
      ';;;',
    );
    const authorization = fc.constantFrom(undefined, `Bearer ${TOKEN}`, 'Bearer wrong-token', 'Basic dXNlcjpwYXNz', `bearer  ${TOKEN}x`, 'Bearer', '');
    const nested = fc.integer({ min: 1, max: 5_000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n)));
    const body = fc.oneof(
      { weight: 3, arbitrary: fc.json().map((s) => Buffer.from(s)) },
      { weight: 2, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((a) => Buffer.from(a)) },
      { weight: 1, arbitrary: nested },
      { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xc3, 0x28, 0x7b, 0x7d]), Buffer.from('{"a":'), Buffer.from('\ufeff{}'), Buffer.from('{"\\ud800":1}'), Buffer.alloc(0)) },
    );
    const extraHeaders = fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      fc.oneof({ weight: 40, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,60}$/) }, { weight: 1, arbitrary: fc.constant('x'.repeat(20_000)) }),
      { maxKeys: 4 },
    );

    const randomRequest: fc.Arbitrary<FuzzRequest> = fc
      .record({
        method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PROPFIND', 'BREW'),
        path: fc.constant(null),
        contentType,
        authorization,
        extra: extraHeaders,
        body: fc.option(body, { nil: undefined }),
        manyHeaders: fc.oneof({ weight: 19, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(99, 150) }),
      })
      .chain((r) => pathArb().map((p) => ({ ...r, path: p })))
      .map((r) => ({
        method: r.method,
        // A DELETE of this integration with the right token is no attack but an operator's order, and
        // would end the checks below: the random requests delete only what does not exist.
        path: r.method === 'DELETE' ? r.path.split(integrationId).join('svi_doesnotexist') : r.path,
        headers: { ...r.extra, ...(r.contentType ? { 'content-type': r.contentType } : {}), ...(r.authorization !== undefined ? { authorization: r.authorization } : {}) },
        body: r.body,
        manyHeaders: r.manyHeaders,
      }));

    /** A correctly signed webhook with one or two things changed, never back to the original. */
    const mutatedWebhook: fc.Arbitrary<FuzzRequest> = fc
      .record({
        key: fc.stringMatching(/^[A-Za-z0-9]{1,12}$/),
        mutations: fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
            fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
            fc.record({ kind: fc.constant('signature' as const), at: fc.nat(), char: fc.constantFrom('0', 'a', 'f', '=', ',', ' ') }),
            fc.record({ kind: fc.constant('drop-signature' as const) }),
            fc.record({ kind: fc.constant('old-timestamp' as const) }),
            fc.record({ kind: fc.constant('content-type' as const), type: fc.constantFrom('text/plain', 'application/xml', 'application/x-www-form-urlencoded') }),
            fc.record({ kind: fc.constant('other-integration' as const), to: id() }),
            fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 10 }) }),
          ),
          { minLength: 1, maxLength: 2 },
        ),
      })
      .map(({ key, mutations }) => {
        const event = customerEvent({ type: 'customer.updated', id: `cus_Fuzz${key}`, created: Math.floor(Date.now() / 1000), email: 'f@example.com' });
        const payload = Buffer.from(JSON.stringify(event));
        let bytes = Buffer.from(payload);
        let signature: string | undefined = stripeSignature(payload.toString(), WEBHOOK_SECRET);
        const original = signature;
        let target = integrationId;
        let type = 'application/json';
        for (const m of mutations) {
          if (m.kind === 'flip') {
            const i: number = m.at % bytes.length;
            bytes[i] = bytes[i]! ^ (1 << m.bit);
          } else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % bytes.length);
          else if (m.kind === 'append') bytes = Buffer.concat([bytes, Buffer.from(m.bytes)]);
          else if (m.kind === 'signature' && signature) {
            const i: number = m.at % signature.length;
            signature = signature.slice(0, i) + m.char + signature.slice(i + 1);
          } else if (m.kind === 'drop-signature') signature = undefined;
          else if (m.kind === 'old-timestamp') signature = stripeSignature(payload.toString(), WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 3_600);
          else if (m.kind === 'content-type') type = m.type;
          else if (m.kind === 'other-integration') target = m.to === integrationId ? 'svi_other' : m.to;
        }
        // Never the original request again: a mutation that changed nothing (a flip undone, the
        // same character) becomes a wrong signature.
        if (bytes.equals(payload) && signature === original && target === integrationId && type === 'application/json') signature = `${original}0`;
        return { method: 'POST', path: `/v1/webhooks/${target}`, headers: { 'content-type': type, ...(signature ? { 'stripe-signature': signature } : {}) }, body: bytes };
      });

    const rawRequest: fc.Arbitrary<Buffer> = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 500 }).map((a) => Buffer.from(a)),
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'get', 'P OST', 'GET\t', '', '\u00e9T', 'CONNECT'),
          fc.constantFrom('/healthz', `/v1/webhooks/${integrationId}`, '/v1/integrations', '*', 'http://x/', '/a b', '/%', '/\u0000', '', '/' + 'a'.repeat(20_000)),
          fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9.9', 'HTTP/1', 'http/1.1', '', 'HTTP/1.1 extra'),
          fc.array(
            fc.constantFrom(
              'Host: x',
              'Content-Length: 10',
              'Content-Length: 5',
              'Content-Length: -1',
              'Content-Length: 1, 2',
              'Content-Length: 99999999999999999999',
              'Transfer-Encoding: chunked',
              'Transfer-Encoding: gzip, chunked',
              'Transfer-Encoding: nonsense',
              'Content-Type: application/json',
              'Authorization: Bearer ' + TOKEN,
              'Stripe-Signature: t=1,v1=00',
              'No-Colon-Here',
              ' folded: continuation',
              'Bad Name: x',
              'X-Nul: a\u0000b',
              'X-Big: ' + 'b'.repeat(17_000),
            ),
            { maxLength: 6 },
          ),
          fc.constantFrom('', '{}', '{"a":1', 'zz\r\n', '5\r\nhello\r\n0\r\n\r\n', 'ffffffffffff\r\n', '{"id":"evt"', '\r\n\r\n'),
          fc.constantFrom('\r\n', '\n', '\r'),
        )
        .map(([method, target, version, headers, body, eol]) => Buffer.from(`${method} ${target} ${version}${eol}${headers.join(eol)}${eol}${eol}${body}`, 'latin1')),
    );
    /**
     * Near-valid management requests with the token: the right keys, values that must be refused
     * (control characters, lone surrogates, ids that are none, out-of-range numbers). None may
     * create anything; an update of the one real integration must be refused too.
     */
    const nasty = fc.oneof(
      fc.constantFrom('\u0000', 'whsec_\u0000', 'whsec_a\u0001b', '\ud800', 'whsec_\ud800', 'https://u:p@example.com/\u0000', 'https://u:p@127.0.0.1/', 'https://u:p@[::1]/', 'https://u:p@169.254.169.254/', 'svi_\u0000', '', ' '),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.integer(),
      fc.double(),
      fc.constant(null),
    );
    // A lone surrogate has no percent-encoding: sent as the bytes of one (invalid UTF-8).
    const enc = (v: unknown) => {
      try {
        return encodeURIComponent(String(v));
      } catch {
        return '%ED%A0%80';
      }
    };
    const nearValid: fc.Arbitrary<FuzzRequest> = fc
      .oneof(
        fc.record({ service: nasty, webhook_secret: nasty }).map((b) => ['POST', '/v1/integrations', b] as const),
        fc.record({ integration_id: nasty, url: nasty, period_seconds: nasty }, { requiredKeys: ['integration_id', 'url'] }).map((b) => ['POST', '/v1/httpsync', b] as const),
        fc.record({ integration_id: fc.constant(integrationId), url: nasty }).map((b) => ['POST', '/v1/httpsync', b] as const),
        fc.record({ webhook_secret: nasty }).map((b) => ['PATCH', `/v1/integrations/${integrationId}`, b] as const),
        fc.record({ rate_limit_per_second: fc.oneof(nasty, fc.constantFrom(-1, 1e308, Number.MAX_SAFE_INTEGER)) }).map((b) => ['PATCH', `/v1/integrations/${integrationId}`, b] as const),
        fc.record({ wait_seconds: fc.oneof(nasty, fc.constantFrom(-1, 1e9, 0.5)) }).map((b) => ['POST', `/v1/integrations/${integrationId}/retry-failed`, b] as const),
        fc.tuple(nasty).map(([v]) => ['GET', `/v1/httpsync?integration_id=${enc(v)}`, undefined] as const),
        fc.tuple(nasty).map(([v]) => ['GET', `/v1/integrations/${enc(v)}`, undefined] as const),
      )
      // A value that happens to be acceptable would change the real integration: only refused ones.
      .filter(([, , b]) => !(b && 'rate_limit_per_second' in b && typeof b.rate_limit_per_second === 'number' && b.rate_limit_per_second >= 0 && b.rate_limit_per_second <= 1e6))
      .filter(([, , b]) => !(b && 'wait_seconds' in b && Number.isInteger(b.wait_seconds) && (b.wait_seconds as number) >= 0 && (b.wait_seconds as number) <= 240))
      .filter(([, , b]) => !(b && 'webhook_secret' in b && typeof b.webhook_secret === 'string' && /^whsec_[\x21-\x7e]+$/.test(b.webhook_secret)))
      .map(([method, path, b]) => ({
        method,
        path,
        headers: { authorization: `Bearer ${TOKEN}`, ...(b ? { 'content-type': 'application/json' } : {}) },
        body: b ? Buffer.from(JSON.stringify(b)) : undefined,
      }));

    return { randomRequest, mutatedWebhook, rawRequest, nearValid };
  }

  test(`only documented statuses, never a 5xx, bounded memory, nothing created (seed ${SEED})`, { timeout: 120_000 }, async (t) => {
    const before = await snapshot();
    const { randomRequest, mutatedWebhook, rawRequest, nearValid } = arbitraries();
    const integrationBefore = (await stack.pool.query('SELECT * FROM integrations WHERE id = $1', [integrationId])).rows[0];
    const requests = [
      ...fc.sample(randomRequest, { numRuns: Math.round(HTTP_REQUESTS * 0.7), seed: SEED }),
      ...fc.sample(mutatedWebhook, { numRuns: Math.round(HTTP_REQUESTS * 0.2), seed: SEED + 1 }),
      ...fc.sample(nearValid, { numRuns: Math.round(HTTP_REQUESTS * 0.1), seed: SEED + 3 }),
    ];
    const raw = fc.sample(rawRequest, { numRuns: RAW_REQUESTS, seed: SEED + 2 });
    // A few large bodies (past the 1 MiB limit), which a sampler would rarely make.
    for (let i = 0; i < 5; i++) {
      requests.push({ method: 'POST', path: `/v1/webhooks/${integrationId}`, headers: { 'content-type': 'application/json' }, body: Buffer.alloc(2 * 1024 * 1024, '[') });
      requests.push({ method: 'POST', path: '/v1/integrations', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: Buffer.alloc(2 * 1024 * 1024, ' ') });
    }

    // Warm up first, so that memory compares a warm process with itself.
    const warmUp = requests.splice(0, 300);
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let skipped = 0;
    const check = async (r: FuzzRequest) => {
      const answer = await send(r);
      if ('skipped' in answer) {
        skipped++;
        return;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const what = `${r.method} ${r.path.slice(0, 120)} (${JSON.stringify(r.headers).slice(0, 200)}) → ${answer.status} ${answer.body.slice(0, 200)}`;
      if (answer.status >= 500) problems.push(`5xx: ${what}`);
      else if (!allowedFor(r.method, r.path).has(answer.status)) problems.push(`undocumented status: ${what}`);
      else if (answer.status >= 400 && r.method !== 'HEAD') {
        let parsed: Json;
        try {
          parsed = JSON.parse(answer.body);
        } catch {
          parsed = undefined;
        }
        if (typeof parsed?.code !== 'string' || typeof parsed?.detail !== 'string') problems.push(`error without {code, detail}: ${what}`);
      }
    };
    await inParallel(warmUp, check);
    const start = await memory();

    await inParallel(requests, check);
    const documented = documentedStatuses();
    let unanswered = 0;
    await inParallel(raw, async (bytes) => {
      const answer = await sendRaw(bytes);
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(answer)?.[1];
      if (!status) {
        // Closed without an answer (a reset, or nothing complete to answer): allowed, and counted.
        unanswered++;
        return;
      }
      const what = `raw ${JSON.stringify(bytes.toString('latin1').slice(0, 160))} → ${answer.slice(0, 160)}`;
      if (Number(status) >= 500) problems.push(`5xx: ${what}`);
      else if (!documented.has(Number(status))) problems.push(`undocumented status: ${what}`);
    });

    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems (FUZZ_SEED=${SEED})`);
    assert.equal(api.child.proc.exitCode, null, `the API exited: ${api.child.tail()}`);
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
    // Most requests reached the API and were answered (not skipped by the client nor left unanswered).
    assert.ok(skipped < requests.length * 0.2, `${skipped} of ${requests.length} requests could not be sent`);
    assert.ok(unanswered < raw.length * 0.5, `${unanswered} of ${raw.length} raw requests got no answer`);
    assert.ok([...statuses.keys()].some((s) => s === 401) && statuses.has(404) && statuses.has(400), `statuses seen: ${[...statuses]}`);

    // Memory: a generous bound; a leak of what thousands of requests carried would pass it.
    const end = await waitFor(
      async () => {
        const m = await memory();
        return m.heap < start.heap + 64 * 1024 * 1024 ? m : undefined;
      },
      { what: 'the heap to settle', timeoutMs: 10_000 },
    );
    assert.ok(end.rss < start.rss + 200 * 1024 * 1024, `RSS grew from ${start.rss} to ${end.rss} bytes`);
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    t.diagnostic(
      `${requests.length + warmUp.length} requests (${skipped} not sendable), ${raw.length} raw (${unanswered} closed unanswered); ` +
        `statuses ${[...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')}; ` +
        `RSS ${mib(start.rss)} → ${mib(end.rss)}, heap ${mib(start.heap)} → ${mib(end.heap)}`,
    );

    assert.deepEqual(await snapshot(), before, 'no row and no workflow appeared');
    assert.deepEqual((await stack.pool.query('SELECT * FROM integrations WHERE id = $1', [integrationId])).rows[0], integrationBefore, 'the integration is unchanged');
  });
});

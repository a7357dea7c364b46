import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createFetchHandler, createReceiver, memoryStore, PageVerificationError, verifyPage, type Page, type PageStore } from '../receiver';
import { gate, newSecret, pageBody, post, serve, signed, signedPage, type SignedPost } from './support/receiver-kit';

/**
 * hooksync/receiver on its own, with pages signed here as hooksync signs them (the examples'
 * test has real deliveries): what verifyPage accepts and refuses, and what the node:http and
 * Fetch receivers answer.
 */
const SECRET = newSecret();
const OLD = newSecret();
const quiet = () => {};

const refusal = (reason: string, status: number) => (err: unknown) => {
  assert.ok(err instanceof PageVerificationError, `a PageVerificationError, not ${String(err)}`);
  assert.equal(err.reason, reason);
  assert.equal(err.status, status);
  return true;
};

describe('verifyPage', () => {
  test('takes the body as a string, Buffer or Uint8Array, and Node, plain or Fetch headers; returns the page', () => {
    const p = signedPage(SECRET, 3);
    const bytes = Buffer.from(p.body);
    const mixedCase = Object.fromEntries(Object.entries(p.headers).map(([k, v]) => [k.replace(/(^|-)w/g, (m) => m.toUpperCase()), v]));
    for (const body of [p.body, bytes, new Uint8Array(bytes)]) {
      for (const headers of [p.headers, mixedCase, new Headers(p.headers)]) {
        const page = verifyPage(body, headers, SECRET);
        assert.deepEqual(page, JSON.parse(p.body));
        assert.equal(page.rows.length, 3);
      }
    }
  });

  test('during a rotation: one secret or both, one signature or two', () => {
    for (const signedWith of [[SECRET], [OLD], [SECRET, OLD]]) {
      const p = signedPage(signedWith);
      assert.equal(verifyPage(p.body, p.headers, [SECRET, OLD]).rows.length, 2, `signed with ${signedWith.length} secret(s)`);
    }
    const both = signedPage([SECRET, OLD]);
    assert.equal(verifyPage(both.body, both.headers, SECRET).rows.length, 2);
    assert.equal(verifyPage(both.body, both.headers, [OLD]).rows.length, 2);
  });

  test('refuses an altered body, another secret, a stale or future timestamp and missing headers (401)', () => {
    const p = signedPage(SECRET);
    assert.throws(() => verifyPage(p.body.replace('cus_0', 'cus_9'), p.headers, SECRET), refusal('bad_signature', 401));
    assert.throws(() => verifyPage(p.body, p.headers, [OLD]), refusal('bad_signature', 401));
    const sixMinutes = 6 * 60_000;
    for (const at of [new Date(Date.now() - sixMinutes), new Date(Date.now() + sixMinutes)]) {
      const stale = signedPage(SECRET, 1, { at });
      assert.throws(() => verifyPage(stale.body, stale.headers, [OLD, SECRET]), refusal('stale_timestamp', 401));
    }
    const fourMinutes = signedPage(SECRET, 1, { at: new Date(Date.now() - 4 * 60_000) });
    assert.equal(verifyPage(fourMinutes.body, fourMinutes.headers, SECRET).rows.length, 1, 'within 5 minutes');
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers = { ...p.headers };
      delete headers[name];
      assert.throws(() => verifyPage(p.body, headers, SECRET), refusal('missing_headers', 401), name);
    }
  });

  test('a signed body that is not a page is invalid_page (400)', () => {
    for (const body of ['not json', '[]', '{"rows": "x"}', '{"rows": [1]}', pageBody([], { table: 7 })]) {
      const p = signed(body, SECRET);
      assert.throws(() => verifyPage(p.body, p.headers, SECRET), refusal('invalid_page', 400), body);
    }
  });

  test('a secret that is not whsec_ base64 is a programming error (TypeError), not a refusal', () => {
    const p = signedPage(SECRET);
    for (const bad of ['secret', 'whsec_***', [], [SECRET, 'x']] as Array<string | string[]>) {
      assert.throws(() => verifyPage(p.body, p.headers, bad), TypeError);
    }
  });
});

/** A receiver's onPage that records what it saw; `block` makes the next calls wait for a gate, `fail` throw. */
function recorder() {
  const seen: Array<{ page: Page; pageId: string }> = [];
  let block: Promise<void> | undefined;
  let fail = 0;
  return {
    seen,
    blockOn(p: Promise<void> | undefined) {
      block = p;
    },
    failNext(n = 1) {
      fail = n;
    },
    onPage: async (page: Page, { pageId }: { pageId: string }) => {
      seen.push({ page, pageId });
      if (block) await block;
      if (fail > 0) {
        fail--;
        throw new Error('onPage failed');
      }
    },
  };
}

/** A memoryStore that counts the copies that reached it. */
function watchedStore() {
  const inner = memoryStore();
  const watched = {
    arrivals: 0,
    store: {
      once(pageId, process) {
        watched.arrivals++;
        return inner.once(pageId, process);
      },
    } as PageStore<undefined>,
  };
  return watched;
}

/** The same checks for the node:http receiver and the Fetch handler: `send` posts one request. */
const RECEIVERS: Array<{ name: string; start(options: Parameters<typeof createReceiver>[0]): Promise<{ send(p: SignedPost, method?: string): Promise<number>; close(): Promise<void> }> }> = [
  {
    name: 'createReceiver (node:http)',
    async start(options) {
      const server = await serve(createReceiver(options));
      return {
        send: async (p, method = 'POST') => (await fetch(server.url, { method, headers: p.headers, body: method === 'POST' ? p.body : undefined })).status,
        close: server.close,
      };
    },
  },
  {
    name: 'createFetchHandler (Request → Response)',
    async start(options) {
      const handler = createFetchHandler(options);
      return {
        send: async (p, method = 'POST') =>
          (await handler(new Request('https://receiver.example/hooksync', { method, headers: p.headers, body: method === 'POST' ? p.body : undefined }))).status,
        close: async () => {},
      };
    },
  },
];

for (const kind of RECEIVERS) {
  describe(kind.name, () => {
    const r = recorder();
    const watched = watchedStore();
    let receiver: Awaited<ReturnType<(typeof RECEIVERS)[number]['start']>>;
    before(async () => {
      receiver = await kind.start({ secrets: [SECRET, OLD], onPage: r.onPage, store: watched.store, onError: quiet });
    });
    after(() => receiver?.close());

    test('a page is processed once: 204, then 200 for a copy with the same webhook-id (onPage not called again)', async () => {
      const before = r.seen.length;
      const p = signedPage(SECRET, 2);
      assert.equal(await receiver.send(p), 204);
      assert.equal(await receiver.send(signedPage(OLD, 2, { id: p.headers['webhook-id'] })), 200, 'a copy signed again later');
      assert.equal(r.seen.length, before + 1);
      assert.equal(r.seen.at(-1)!.pageId, p.headers['webhook-id']);
      assert.deepEqual(r.seen.at(-1)!.page, JSON.parse(p.body));
    });

    test('401 for a bad or stale signature, 400 for a body that is not a page, 405 for another method; onPage not called', async () => {
      const before = r.seen.length;
      const p = signedPage(SECRET);
      assert.equal(await receiver.send({ ...p, body: p.body.replace('cus_1', 'cus_2') }), 401);
      assert.equal(await receiver.send(signedPage(newSecret())), 401);
      assert.equal(await receiver.send(signedPage(SECRET, 1, { at: new Date(Date.now() - 10 * 60_000) })), 401);
      assert.equal(await receiver.send({ body: p.body, headers: { 'content-type': 'application/json' } }), 401);
      assert.equal(await receiver.send(signed('{"rows": null}', SECRET)), 400);
      assert.equal(await receiver.send(signed('<xml/>', SECRET)), 400);
      assert.equal(await receiver.send(p, 'GET'), 405);
      assert.equal(r.seen.length, before);
    });

    test('the verification POST (no rows) is 200 without onPage, also signed with a secret the receiver does not know yet', async () => {
      const before = r.seen.length;
      assert.equal(await receiver.send(signed(pageBody([]), SECRET)), 200);
      // `httpsync create` verifies the endpoint before it prints the secret.
      assert.equal(await receiver.send(signed(pageBody([]), newSecret())), 200);
      assert.equal(r.seen.length, before);
    });

    test('onPage throws: 500 and the id is not recorded, so the page comes again and is processed', async () => {
      const before = r.seen.length;
      const p = signedPage(SECRET);
      r.failNext();
      assert.equal(await receiver.send(p), 500);
      assert.equal(await receiver.send(p), 204);
      assert.equal(await receiver.send(p), 200);
      assert.equal(r.seen.length, before + 2);
    });

    test('a copy that arrives while the first is being handled waits for it: 200 once it succeeded, its own turn when it failed', async () => {
      for (const firstFails of [false, true]) {
        const [seenBefore, arrivalsBefore] = [r.seen.length, watched.arrivals];
        const p = signedPage(SECRET);
        const g = gate();
        r.blockOn(g.opened);
        if (firstFails) r.failNext();
        const first = receiver.send(p);
        await waitUntil(() => r.seen.length === seenBefore + 1);
        r.blockOn(undefined);
        let secondAnswered = false;
        const second = receiver.send(signedPage(SECRET, 2, { id: p.headers['webhook-id'] })).finally(() => (secondAnswered = true));
        await waitUntil(() => watched.arrivals === arrivalsBefore + 2);
        assert.equal(secondAnswered, false, 'the second copy waits while the first is in onPage');
        assert.equal(r.seen.length, seenBefore + 1, 'and does not run onPage meanwhile');
        g.open();
        assert.deepEqual([await first, await second], firstFails ? [500, 204] : [204, 200]);
        assert.equal(r.seen.length, seenBefore + (firstFails ? 2 : 1));
      }
    });
  });
}

async function waitUntil(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

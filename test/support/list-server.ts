import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTPS list API shaped like Stripe's `GET /v1/customers` (newest first, `limit`,
 * `starting_after`, `{object: 'list', data, has_more}`), with the certificate bin/run-tests.js
 * made: for backfills over many pages, 429s with Retry-After, and slow pages. Every request is
 * recorded with the cursor it asked after and how it was answered.
 */

export interface ListRequest {
  at: number;
  /** `starting_after`, or null for the first page. */
  after: string | null;
  limit: number;
  authorization: string | undefined;
  status: number;
  /** Keys answered (200 only). */
  keys: string[];
}

/** What to do with a request instead of answering it: a status with headers (429 + Retry-After), or a delay first. */
export type Behaviour = (req: ListRequest, index: number) => { status?: number; headers?: Record<string, string>; delayMs?: number } | undefined;

export interface ListServer {
  /** https://127.0.0.1:<port>: the --api-base. */
  url: string;
  requests: ListRequest[];
  /** The resources served, in list order (replace or edit them between runs). */
  items: Array<Record<string, unknown>>;
  /** Most items per page, whatever `limit` asks (Stripe caps at 100). */
  pageSize: number;
  behave(b: Behaviour | undefined): void;
  close(): Promise<void>;
}

export async function startListServer(opts: { apiKey: string; items: Array<Record<string, unknown>>; pageSize?: number }): Promise<ListServer> {
  const certFile = process.env.HOOKSYNC_TEST_TLS_CERT;
  const keyFile = process.env.HOOKSYNC_TEST_TLS_KEY;
  if (!certFile || !keyFile) throw new Error('HOOKSYNC_TEST_TLS_CERT/KEY not set: run the tests with `npm test`');
  let behaviour: Behaviour | undefined;
  const state: ListServer = {
    url: '',
    requests: [],
    items: opts.items,
    pageSize: opts.pageSize ?? 100,
    behave: (b) => void (behaviour = b),
    close: async () => {},
  };
  const timers = new Set<NodeJS.Timeout>();
  const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://list.test');
    const record: ListRequest = {
      at: Date.now(),
      after: url.searchParams.get('starting_after'),
      limit: Number(url.searchParams.get('limit') ?? 10),
      authorization: req.headers.authorization,
      status: 0,
      keys: [],
    };
    const index = state.requests.push(record) - 1;
    const scripted = behaviour?.(record, index);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const respond = () => {
      if (req.method !== 'GET' || url.pathname !== '/v1/customers') return answer(404, { error: { message: 'Unrecognized request URL' } });
      if (req.headers.authorization !== `Bearer ${opts.apiKey}`) return answer(401, { error: { message: 'Invalid API Key provided' } });
      if (scripted?.status) return answer(scripted.status, { error: { message: 'scripted' } }, scripted.headers);
      let from = 0;
      if (record.after !== null) {
        const at = state.items.findIndex((i) => i.id === record.after);
        if (at < 0) return answer(400, { error: { message: `No such customer: '${record.after}'` } });
        from = at + 1;
      }
      const page = state.items.slice(from, from + Math.min(record.limit, state.pageSize));
      record.keys = page.map((i) => String(i.id));
      answer(200, { object: 'list', url: '/v1/customers', has_more: from + page.length < state.items.length, data: page });
    };
    const delay = scripted?.delayMs;
    if (delay) {
      const t = setTimeout(() => {
        timers.delete(t);
        respond();
      }, delay);
      timers.add(t);
    } else respond();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const t of timers) clearTimeout(t);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

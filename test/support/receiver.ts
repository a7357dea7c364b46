import crypto from 'node:crypto';
import fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/** One POST as the receiver saw it. */
export interface ReceivedRequest {
  /** Date.now() when the request arrived. */
  at: number;
  /** The request target as sent on the wire (path and query). */
  url?: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it is not JSON. */
  body: any;
  /** The body as it arrived (what a signature is checked against). */
  raw: string;
  pageId: string | undefined;
  authorized: boolean;
  /** What the receiver answered (0 when it destroyed the socket or has not answered yet). */
  status: number;
  /** A 2xx that reached the client: the sender may count the page as delivered. */
  accepted: boolean;
  /** The sender's port of the connection, to tell which process sent it. */
  remotePort?: number;
  /** Date.now() when the request was over (answered, or its connection closed). */
  endedAt?: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** Sent as JSON; default `{}`. */
  body?: unknown;
  /** Wait before answering, e.g. past the sender's timeout. */
  delayMs?: number;
  /** Destroy the socket instead of answering. */
  destroy?: boolean;
}

export type Behaviour = (req: ReceivedRequest) => Reply | Promise<Reply>;

export interface Receiver {
  /** https://user:password@127.0.0.1:<port>/sync */
  url: string;
  /** The same without credentials. */
  endpoint: string;
  user: string;
  password: string;
  /** Every POST, in arrival order, including unauthorized and failed ones (none with `keepRequests: false`). */
  requests: ReceivedRequest[];
  /** POSTs refused for their credentials. */
  readonly unauthorized: number;
  /** The most requests that were in flight at once. */
  readonly maxConcurrent: number;
  respondWith(fn: Behaviour): void;
  /**
   * Pairs of POSTs that were in flight at the same time (from their first byte to their
   * connection's end), including those whose body never fully arrived (`request` undefined).
   */
  overlaps(): Array<[InFlightSpan, InFlightSpan]>;
  /** Requests answered 2xx that reached the client, in arrival order. */
  accepted(): ReceivedRequest[];
  /** All rows of accepted pages, in order. */
  rows(): any[];
  /** key → the last accepted row with that value in `keyColumn`. */
  state(keyColumn: string): Map<string, any>;
  close(): Promise<void>;
}

export interface InFlightSpan {
  startedAt: number;
  endedAt?: number;
  remotePort?: number;
  request?: ReceivedRequest;
}

const OK: Behaviour = () => ({ status: 200 });

/** A real HTTPS endpoint for HTTP Sync to deliver to, with the certificate bin/run-tests.js made. */
export async function startReceiver(opts: { user?: string; password?: string; keepRequests?: boolean } = {}): Promise<Receiver> {
  const certFile = process.env.HOOKSYNC_TEST_TLS_CERT;
  const keyFile = process.env.HOOKSYNC_TEST_TLS_KEY;
  if (!certFile || !keyFile) throw new Error('HOOKSYNC_TEST_TLS_CERT/KEY not set: run the tests with `npm test`');
  const user = opts.user ?? 'hooksync';
  const password = opts.password ?? crypto.randomBytes(12).toString('hex');
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

  const requests: ReceivedRequest[] = [];
  const spans: InFlightSpan[] = [];
  const previousOnSocket = new WeakMap<import('node:net').Socket, () => void>();
  let behaviour = OK;
  // A benchmark's hundreds of thousands of rows are counted by its behaviour, not kept.
  const keep = opts.keepRequests ?? true;
  let inFlight = 0;
  let maxConcurrent = 0;
  let unauthorized = 0;
  const timers = new Set<NodeJS.Timeout>();

  const server = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    // A request is over when its response's connection closes, or when the next request arrives on
    // the same keep-alive connection (HTTP/1.1 without pipelining: the client had the answer by
    // then; Node may emit the response's 'close' only after that next request was parsed).
    previousOnSocket.get(req.socket)?.();
    inFlight++;
    maxConcurrent = Math.max(maxConcurrent, inFlight);
    const span: InFlightSpan = { startedAt: Date.now(), remotePort: req.socket.remotePort };
    if (keep) spans.push(span);
    const over = () => {
      if (span.endedAt !== undefined) return;
      inFlight--;
      span.endedAt = Date.now();
      if (span.request) span.request.endedAt = span.endedAt;
    };
    previousOnSocket.set(req.socket, over);
    res.once('close', over);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    const answer = async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const pageId = req.headers['hooksync-page-id'];
      const record: ReceivedRequest = {
        at: Date.now(),
        url: req.url,
        headers: req.headers,
        body,
        raw: text,
        pageId: Array.isArray(pageId) ? pageId[0] : pageId,
        authorized: req.headers.authorization === expected,
        status: 0,
        accepted: false,
        remotePort: req.socket.remotePort,
      };
      span.request = record;
      if (keep) requests.push(record);
      if (!record.authorized) {
        unauthorized += 1;
        record.status = 401;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="receiver"', 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
        return;
      }
      let reply: Reply;
      try {
        reply = await behaviour(record);
      } catch (err) {
        reply = { status: 500, body: { error: (err as Error).message } };
      }
      if (reply.delayMs) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, reply.delayMs);
          timers.add(t);
          res.once('close', () => {
            clearTimeout(t);
            timers.delete(t);
            resolve();
          });
        });
      }
      if (res.destroyed) return;
      if (reply.destroy) {
        req.socket.destroy();
        return;
      }
      record.status = reply.status;
      res.once('finish', () => {
        record.accepted = reply.status >= 200 && reply.status < 300;
      });
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify(reply.body ?? {}));
    };
    req.on('end', () => void answer());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;

  const accepted = () => requests.filter((r) => r.accepted);
  const rows = () => accepted().flatMap((r) => (Array.isArray(r.body?.rows) ? r.body.rows : []));
  return {
    url: `https://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/sync`,
    endpoint: `https://127.0.0.1:${port}/sync`,
    user,
    password,
    requests,
    get maxConcurrent() {
      return maxConcurrent;
    },
    get unauthorized() {
      return unauthorized;
    },
    respondWith(fn) {
      behaviour = fn;
    },
    overlaps() {
      return spans.flatMap((a, i) =>
        spans
          .slice(i + 1)
          .filter((b) => b.startedAt < (a.endedAt ?? Infinity) && a.startedAt < (b.endedAt ?? Infinity))
          .map((b): [InFlightSpan, InFlightSpan] => [a, b]),
      );
    },
    accepted,
    rows,
    state(keyColumn) {
      const map = new Map<string, any>();
      for (const row of rows()) map.set(String(row[keyColumn]), row);
      return map;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Receivers a test file starts as it needs them, all closed together when the file ends:
 * `start` takes startReceiver's options, `close` closes every one started.
 */
export function receiverSet() {
  const started: Receiver[] = [];
  return {
    start: async (opts?: Parameters<typeof startReceiver>[0]) => {
      const r = await startReceiver(opts);
      started.push(r);
      return r;
    },
    close: () => Promise.all(started.map((r) => r.close())),
  };
}

import http, { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context, Next } from 'koa';

/** Limits of every request to the API port (webhooks, management API, health). */
export const REQUEST_LIMITS = {
  /** Request line and headers together; Node answers 431 past it. */
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100,
  /** From a request's first byte until its headers are complete (slow-loris). */
  headersTimeoutMs: 10_000,
  /** From a request's first byte until its body is complete. */
  requestTimeoutMs: 30_000,
  /** Upstreams reuse connections; keep them longer than common proxies' idle timeouts. */
  keepAliveTimeoutMs: 65_000,
};
export type RequestLimits = typeof REQUEST_LIMITS;

/** What serves a request: Koa's `app.callback()`, whose promise settles every request itself (it never rejects). */
export type ApiHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

/** The API's HTTP server: bounded headers, timeouts, and `{code, detail}` for what Node refuses itself. */
export function createApiServer(handler: ApiHandler, overrides: Partial<RequestLimits> = {}): http.Server {
  const limits = { ...REQUEST_LIMITS, ...overrides };
  const server = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often the two timeouts above are checked (Node's default, 30 s, would let them slip that long).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
      // Node would answer a missing Host with a bare 400 of its own, also when Host is only one
      // of the headers past maxHeadersCount that it drops: headerLimit below answers both.
      requireHostHeader: false,
    },
    (req, res) => void handler(req, res),
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // One more than allowed, so that the middleware below sees that there were too many.
  server.maxHeadersCount = limits.maxHeaders + 1;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, limits));
  return server;
}

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, limits: RequestLimits): void {
  const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || inProgress) {
    socket.destroy();
    return;
  }
  const [status, code, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', `the request line and headers are over ${limits.maxHeaderBytes} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'bad_request', 'malformed HTTP request'];
  const body = JSON.stringify({ code, detail });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Koa middleware: too many headers is a 431 (Node itself would silently drop the extra ones); no Host header, a 400. */
export function headerLimit(maxHeaders = REQUEST_LIMITS.maxHeaders) {
  return async function limitHeaders(ctx: Context, next: Next) {
    if (ctx.req.rawHeaders.length / 2 > maxHeaders) {
      ctx.set('connection', 'close');
      ctx.throw(431, `more than ${maxHeaders} request headers`, { code: 'too_many_headers' });
    }
    if (ctx.req.httpVersionMajor === 1 && ctx.req.httpVersionMinor >= 1 && ctx.req.headers.host === undefined) {
      ctx.set('connection', 'close');
      ctx.throw(400, 'an HTTP/1.1 request needs a Host header', { code: 'bad_request' });
    }
    await next();
  };
}

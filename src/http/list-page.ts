import { STATUS_CODES } from 'node:http';
import { errors, request } from 'undici';
import { targetGuard, TargetRefusedError, type AddressGuard } from './address-guard';
import { agentFor, describeNetworkError, parseRetryAfter } from './post-page';

/**
 * GET of one page of an upstream's list API (a backfill), through the same client as the
 * deliveries: keep-alive, the address guard on every connection, no redirects followed. The API
 * key travels in the Authorization header only; errors name the host and the status, never the
 * key and never the response body (which may echo it, or come from an internal host).
 */

/** A page of 100 Stripe customers is some 100-300 kB; anything far beyond is not a list page. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export type ListOutcome =
  | { ok: true; status: number; body: unknown; ms: number; /** The upstream's clock (the Date header), ms since epoch. */ dateMs?: number }
  | {
      ok: false;
      status?: number;
      error: string;
      /** Asking again will not help (a bad key, a wrong path): 4xx other than 408, 409 and 429, or a refused address. */
      permanent: boolean;
      retryAfterMs?: number;
      ms: number;
    };

export async function getListPage(
  url: URL,
  apiKey: string,
  opts: { timeoutMs: number; headers?: Record<string, string>; signal?: AbortSignal; guard?: AddressGuard },
): Promise<ListOutcome> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const host = url.host;
  const ms = () => performance.now() - started;
  try {
    const res = await request(url, {
      method: 'GET',
      dispatcher: agentFor(opts.guard ?? targetGuard()),
      headers: { accept: 'application/json', 'user-agent': 'hooksync', ...opts.headers, authorization: `Bearer ${apiKey}` },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
    });
    if (res.statusCode !== 200) {
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      const phrase = STATUS_CODES[res.statusCode];
      const s = res.statusCode;
      const hint = s === 401 || s === 403 ? ': is the API key right, and may it list this resource?' : s >= 300 && s < 400 ? ' (redirects are not followed)' : '';
      return {
        ok: false,
        status: s,
        error: `HTTP ${s}${phrase ? ` ${phrase}` : ''} from ${host}${hint}`,
        permanent: s >= 300 && s < 500 && s !== 408 && s !== 409 && s !== 429,
        retryAfterMs: parseRetryAfter(res.headers['retry-after'], s),
        ms: ms(),
      };
    }
    const declared = Number(res.headers['content-length']);
    if (declared > MAX_BODY_BYTES) {
      res.body.destroy();
      return { ok: false, status: 200, error: `the page from ${host} is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`, permanent: true, ms: ms() };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        return { ok: false, status: 200, error: `the page from ${host} is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`, permanent: true, ms: ms() };
      }
      chunks.push(chunk as Buffer);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return { ok: false, status: 200, error: `the page from ${host} is not JSON`, permanent: false, ms: ms() };
    }
    const date = Date.parse(String(res.headers.date ?? ''));
    return { ok: true, status: 200, body, ms: ms(), ...(Number.isNaN(date) ? {} : { dateMs: date }) };
  } catch (err) {
    if (err instanceof TargetRefusedError) return { ok: false, error: err.message, permanent: true, ms: ms() };
    if (timeout.aborted || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
      return { ok: false, error: `no response from ${host} within ${Math.round(opts.timeoutMs / 1000)} s`, permanent: false, ms: ms() };
    }
    return { ok: false, error: `request to ${host} failed: ${describeNetworkError(err)}`, permanent: false, ms: ms() };
  }
}

import { Agent, errors, request } from 'undici';
import type { TargetUrl } from './target-url';

/**
 * The one outgoing HTTP client. Keep-alive connections per origin; the system CAs plus
 * NODE_EXTRA_CA_CERTS (Node's default TLS context) are trusted.
 */
const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connect: { timeout: 10_000 } });

export interface PostOutcome {
  ok: boolean;
  status?: number;
  /** Only for failures: what the receiver or the network said, never the URL's credentials. */
  error?: string;
  retryAfterMs?: number;
  ms: number;
}

export async function postPage(
  target: TargetUrl,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PostOutcome> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await request(target.endpoint, {
      method: 'POST',
      dispatcher: agent,
      body,
      headers: { 'content-type': 'application/json', 'user-agent': 'hooksync', authorization: target.authorization, ...headers },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    const text = ok ? (await res.body.dump(), '') : (await res.body.text().catch(() => '')).slice(0, 200);
    const ms = performance.now() - started;
    if (ok) return { ok, status: res.statusCode, ms };
    const reason = text.replace(/\s+/g, ' ').trim();
    return {
      ok,
      status: res.statusCode,
      ms,
      error: `HTTP ${res.statusCode} from ${target.host}` + (reason ? `: ${reason}` : ''),
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], res.statusCode),
    };
  } catch (err) {
    const ms = performance.now() - started;
    if (timeout.aborted || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
      return { ok: false, ms, error: `no response from ${target.host} within ${Math.round(timeoutMs / 1000)} s` };
    }
    return { ok: false, ms, error: `request to ${target.host} failed: ${describeNetworkError(err)}` };
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** Retry-After in seconds or as an HTTP date; honoured for 429 and 503 as RFC 9110 intends. */
export function parseRetryAfter(value: string | string[] | undefined, status: number, now = Date.now()): number | undefined {
  if (status !== 429 && status !== 503) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

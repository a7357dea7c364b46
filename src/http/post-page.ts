import { STATUS_CODES } from 'node:http';
import { Agent, errors, request } from 'undici';
import { targetGuard, TargetRefusedError, type AddressGuard } from './address-guard';
import type { TargetUrl } from './target-url';

/**
 * The one outgoing HTTP client. Keep-alive connections per origin; the system CAs plus
 * NODE_EXTRA_CA_CERTS (Node's default TLS context) are trusted. Every new connection goes through
 * the address guard, on the address it actually connects to. Redirects are never followed: a
 * 3xx is a failed POST like any other non-2xx.
 */
const agents = new WeakMap<AddressGuard, Agent>();

export function agentFor(guard: AddressGuard): Agent {
  let agent = agents.get(guard);
  if (!agent) {
    agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connect: guard.connector({ timeout: 10_000 }) });
    agents.set(guard, agent);
  }
  return agent;
}

export interface PostOutcome {
  ok: boolean;
  status?: number;
  /**
   * Only for failures: the status and its standard reason phrase, or what the network said (never
   * the response body, which may come from an internal host, and never the URL's credentials).
   */
  error?: string;
  /** The address guard refused the connection. */
  refused?: boolean;
  retryAfterMs?: number;
  ms: number;
}

export async function postPage(
  target: TargetUrl,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
  guard: AddressGuard = targetGuard(),
): Promise<PostOutcome> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await request(target.endpoint, {
      method: 'POST',
      dispatcher: agentFor(guard),
      body,
      headers: { 'content-type': 'application/json', 'user-agent': 'hooksync', authorization: target.authorization, ...headers },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    // Read to the end (bounded), so the connection can be reused; never kept or shown.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const ms = performance.now() - started;
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok) return { ok, status: res.statusCode, ms };
    const phrase = STATUS_CODES[res.statusCode];
    const redirect = res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : '';
    return {
      ok,
      status: res.statusCode,
      ms,
      error: `HTTP ${res.statusCode}${phrase ? ` ${phrase}` : ''} from ${target.host}${redirect}`,
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], res.statusCode),
    };
  } catch (err) {
    const ms = performance.now() - started;
    if (err instanceof TargetRefusedError) return { ok: false, ms, refused: true, error: err.message };
    if (timeout.aborted || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
      return { ok: false, ms, error: `no response from ${target.host} within ${Math.round(timeoutMs / 1000)} s` };
    }
    return { ok: false, ms, error: `request to ${target.host} failed: ${describeNetworkError(err)}` };
  }
}

export function describeNetworkError(err: unknown): string {
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

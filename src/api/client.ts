import { apiTokens } from '../config';
import { ServiceError, unavailable, type ServiceErrorCode } from '../services/errors';
import { operationSpec, type Services } from './operations';

/**
 * The management API over HTTP, as `Services`: each operation is sent as its route spec
 * (src/api/management.ts) describes it, so a new route needs nothing here. Errors come back as the
 * API's `{code, detail}`: the service layer's codes as the same ServiceError the local services
 * throw, the API's own (unauthorized, management_disabled, …) as an ApiError with that code.
 */

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const SERVICE_CODES = new Set<string>(['invalid', 'not_found', 'verification_failed', 'target_refused', 'unavailable', 'conflict'] satisfies ServiceErrorCode[]);

function baseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ServiceError('invalid', `HOOKSYNC_API_URL is not a URL: "${raw}" (e.g. https://hooksync.example.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ServiceError('invalid', `HOOKSYNC_API_URL must be an http(s) URL, not ${url.protocol}`);
  if (url.username || url.password) throw new ServiceError('invalid', 'HOOKSYNC_API_URL carries no credentials: the token goes in HOOKSYNC_API_TOKEN');
  url.search = '';
  url.hash = '';
  return url;
}

function errorOf(status: number, body: unknown, where: string): Error {
  const { code, detail } = (body ?? {}) as { code?: unknown; detail?: unknown };
  const text = typeof detail === 'string' ? detail : `HTTP ${status}`;
  if (typeof code === 'string' && SERVICE_CODES.has(code)) return new ServiceError(code as ServiceErrorCode, text);
  if (status === 401) {
    return new ApiError('unauthorized', `the hooksync API at ${where} refused the token: set HOOKSYNC_API_TOKEN to one of the tokens the API was started with`, status);
  }
  if (code === 'management_disabled') return new ApiError(code, `the hooksync API at ${where} has its management API off (it is started without HOOKSYNC_API_TOKEN)`, status);
  return new ApiError(typeof code === 'string' ? code : `http_${status}`, `the hooksync API at ${where} answered ${status}: ${text}`, status);
}

export function remoteServices(opts: { url: string; token?: string }): Services {
  const base = baseUrl(opts.url);
  const where = base.href;
  // An API behind a path prefix (https://example.com/hooksync) keeps it.
  const prefix = base.pathname.replace(/\/+$/, '');
  // The same variable may hold a server's comma-separated list: a client sends the first.
  const token = apiTokens(opts.token)[0];
  return {
    where,
    async call(operation, ...[input]) {
      const spec = operationSpec(operation);
      const given = (input ?? {}) as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
      const path = spec.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(String(given.params?.[name] ?? '')));
      const url = new URL(base.href);
      url.pathname = prefix + path;
      for (const [k, v] of Object.entries(given.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
      const headers: Record<string, string> = { accept: 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      if (spec.body) headers['content-type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(url, { method: spec.method.toUpperCase(), headers, body: spec.body ? JSON.stringify(given.body ?? {}) : undefined, redirect: 'error' });
      } catch (err) {
        throw unavailable(`the hooksync API at ${where}`, (err as { cause?: unknown }).cause ?? err);
      }
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        throw new ApiError('bad_response', `the hooksync API at ${where} answered ${res.status} with something that is not JSON: is HOOKSYNC_API_URL the API's address?`, res.status);
      }
      if (!res.ok) throw errorOf(res.status, body, where);
      return body as never;
    },
    async close() {},
  };
}

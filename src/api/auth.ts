import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { apiTokens } from '../config';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Bearer tokens of the management API (HOOKSYNC_API_TOKEN, comma-separated: list the new token
 * beside the old one, move clients over, then drop the old one). Digests of equal length are
 * compared in constant time, against every token, so neither a token's length nor which one
 * matched shows in the timing.
 */
export function tokenMatcher(raw: string | undefined): ((authorization: string) => boolean) | undefined {
  const expected = apiTokens(raw).map(digest);
  if (expected.length === 0) return undefined;
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    const given = digest(m?.[1] ?? '');
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(given, e) || ok;
    return ok && m !== null;
  };
}

export function requireToken(raw: string | undefined) {
  const matches = tokenMatcher(raw);
  return async function managementAuth(ctx: Context, next: Next) {
    if (!matches) {
      ctx.status = 404;
      ctx.body = { code: 'management_disabled', detail: 'the management API is off: start the API with HOOKSYNC_API_TOKEN set' };
      return;
    }
    if (!matches(ctx.get('authorization'))) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer realm="hooksync"');
      ctx.body = { code: 'unauthorized', detail: 'a valid "Authorization: Bearer <token>" header is required (a token of HOOKSYNC_API_TOKEN)' };
      return;
    }
    await next();
  };
}

import type { Context, Next } from 'koa';
import type pg from 'pg';
import { readRateLimit } from '../db/rate-limits';
import { eventsRejected } from '../metrics';

/** A limit change reaches every API process within this long (as a new webhook secret does). */
const CACHE_MS = 5_000;
/** Bounds the caches against requests for made-up integration ids. */
const MAX_ENTRIES = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * The per-integration rate limit of the webhook endpoint: a token bucket per integration, holding
 * one second's worth of events (at least one), refilled continuously. It lives in this process, so
 * with several API processes behind a load balancer an integration gets up to that many times its
 * limit. A refused event gets 429 with Retry-After before its body is read: nothing of it is
 * kept, and upstreams send it again later. Accepted events go on as usual.
 */
export function createRateLimiter(pool: pg.Pool, now: () => number = Date.now) {
  const limits = new Map<string, { limit: number | null; fetchedAt: number }>();
  const buckets = new Map<string, Bucket>();

  async function limitOf(integrationId: string): Promise<number | null> {
    const hit = limits.get(integrationId);
    if (hit && now() - hit.fetchedAt < CACHE_MS) return hit.limit;
    let limit: number | null;
    try {
      limit = (await readRateLimit(pool, integrationId)) ?? null;
    } catch {
      // The database is down: the handler answers that; the limit does not get in its way.
      return hit?.limit ?? null;
    }
    if (limits.size >= MAX_ENTRIES) limits.clear();
    limits.set(integrationId, { limit, fetchedAt: now() });
    return limit;
  }

  /** Takes one event's token; when none is left, the seconds until there is one. */
  function take(integrationId: string, limit: number): number | undefined {
    const capacity = Math.max(1, limit);
    const t = now();
    let b = buckets.get(integrationId);
    if (!b) {
      if (buckets.size >= MAX_ENTRIES) buckets.clear();
      b = { tokens: capacity, at: t };
      buckets.set(integrationId, b);
    }
    b.tokens = Math.min(capacity, b.tokens + ((t - b.at) / 1000) * limit);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / limit));
  }

  /** Answers 429 and returns true when this request is over its integration's limit. */
  async function refuse(ctx: Context, integrationId: string): Promise<boolean> {
    const limit = await limitOf(integrationId);
    if (limit === null) return false;
    const wait = take(integrationId, limit);
    if (wait === undefined) return false;
    eventsRejected.inc({ reason: 'rate_limited' });
    ctx.status = 429;
    ctx.set('retry-after', String(wait));
    ctx.body = { code: 'rate_limited', detail: `integration ${integrationId} accepts at most ${limit} events per second; retry after ${wait} s` };
    return true;
  }

  return {
    refuse,
    /** For the webhook route: `router.post('/v1/webhooks/:integrationId', limiter.middleware, handler)`. */
    middleware: async function rateLimit(ctx: Context, next: Next) {
      const id = (ctx as Context & { params?: Record<string, string> }).params?.integrationId;
      if (id && (await refuse(ctx, id))) return;
      await next();
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;

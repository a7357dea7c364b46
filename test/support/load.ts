import { Pool } from 'undici';
import type { SignedEvent } from './stripe-events';

/** Closed-loop senders: each sends its next event as soon as the previous one is answered. */

export interface LoadResult {
  senders: number;
  sent: number;
  accepted: number;
  failed: number;
  /** Non-2xx answers and network errors by status (or error code). */
  failures: Record<string, number>;
  /** From the first request to the last answer, ms. */
  elapsedMs: number;
  /** Request latencies, ms. */
  latencies: Float64Array;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(latencies: Float64Array | number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN, count: sorted.length };
}

export function webhookClient(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 120_000 });
}

export async function sendOne(client: Pool, path: string, ev: SignedEvent): Promise<{ ok: boolean; status: string; ms: number }> {
  const started = performance.now();
  try {
    const res = await client.request({
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': ev.signature, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' },
      body: ev.body,
    });
    await res.body.dump();
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok) ev.accepted();
    return { ok, status: String(res.statusCode), ms: performance.now() - started };
  } catch (err) {
    const e = err as { code?: string; name?: string };
    return { ok: false, status: e.code ?? e.name ?? 'error', ms: performance.now() - started };
  }
}

export async function closedLoop(opts: {
  client: Pool;
  path: string;
  senders: number;
  durationMs: number;
  /** Stop after this many requests (whichever of the two comes first). */
  count?: number;
  next: () => SignedEvent;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let accepted = 0;
  let sent = 0;
  const started = performance.now();
  const end = started + opts.durationMs;
  await Promise.all(
    Array.from({ length: opts.senders }, async () => {
      while (performance.now() < end && sent < (opts.count ?? Infinity)) {
        const ev = opts.next();
        sent += 1;
        const r = await sendOne(opts.client, opts.path, ev);
        latencies.push(r.ms);
        if (r.ok) accepted += 1;
        else failures[r.status] = (failures[r.status] ?? 0) + 1;
      }
    }),
  );
  return {
    senders: opts.senders,
    sent,
    accepted,
    failed: sent - accepted,
    failures,
    elapsedMs: performance.now() - started,
    latencies: Float64Array.from(latencies),
  };
}

/**
 * Open loop at a fixed rate: the i-th request leaves at start + i/rate whatever the answers.
 * Calls onSend with the moment (performance.now()) each request left, onAnswer with whether it was 2xx.
 */
export async function openLoop(opts: {
  client: Pool;
  path: string;
  ratePerSecond: number;
  durationMs: number;
  next: (i: number) => SignedEvent;
  onSend?: (i: number, at: number) => void;
  onAnswer?: (i: number, ok: boolean) => void;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let accepted = 0;
  const total = Math.round((opts.ratePerSecond * opts.durationMs) / 1000);
  const interval = 1000 / opts.ratePerSecond;
  const started = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const ev = opts.next(i);
    opts.onSend?.(i, performance.now());
    inflight.push(
      sendOne(opts.client, opts.path, ev).then((r) => {
        opts.onAnswer?.(i, r.ok);
        latencies.push(r.ms);
        if (r.ok) accepted += 1;
        else failures[r.status] = (failures[r.status] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(inflight);
  return {
    senders: 0,
    sent: total,
    accepted,
    failed: total - accepted,
    failures,
    elapsedMs: performance.now() - started,
    latencies: Float64Array.from(latencies),
  };
}

import type { DeliverResult } from '../contract/delivery';
import type { DeliveryProgress, RetryState, TargetSettings } from '../contract/httpsync';
import { boundDelayMs, retryDelayMs, type RetrySchedule } from '../contract/retry';

/** What a delivery activity's result or failure does to a target's workflow state. */

/**
 * Rows held back by an older open transaction become readable when it ends, and nothing signals
 * that: look again after 1 s, doubling up to 15 s (or the period, if shorter).
 */
const HELD_BACK_RECHECK_MS = 1_000;
const HELD_BACK_RECHECK_MAX_MS = 15_000;

/** What the workflow makes of a failed delivery activity. */
export interface FailureView {
  message: string;
  /** Pages delivered before the failure (failure details, or the last heartbeat). */
  partial?: DeliverResult;
  retryAfterMs?: number;
  retryDelayMs?: number;
  targetGone?: boolean;
}

/** The parts of `TargetState` (httpsync-state.ts) a delivery outcome moves. */
export interface Outcomes {
  readonly settings: TargetSettings;
  readonly progress: DeliveryProgress;
  readonly schedule: RetrySchedule;
  readonly recent: Array<[number, number]>;
  retry?: RetryState;
  generation: number;
  resetAt?: string;
  deleted: boolean;
  draining: boolean;
  wake: boolean;
  rowsChanged: boolean;
  cursorAhead?: { nextTxid: string };
  lastSyncEndedAt: number;
  recheckAt?: number;
  recheckMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A delivery activity returned. */
export function afterDelivery(s: Outcomes, r: DeliverResult, now: number): void {
  count(s, r, now);
  s.progress.lastSuccessAt = iso(now);
  s.retry = undefined;
  if (r.stopped === 'deleted') s.deleted = true;
  s.draining = r.more && !r.stopped;
  if (r.stopped === 'reset') s.wake = true;
  if (!s.draining && !s.wake && !s.rowsChanged) {
    s.lastSyncEndedAt = now;
    s.recheckMs = r.heldBack
      ? Math.min(s.recheckMs === undefined ? HELD_BACK_RECHECK_MS : s.recheckMs * 2, HELD_BACK_RECHECK_MAX_MS, s.settings.periodSeconds * 1000)
      : undefined;
    s.recheckAt = s.recheckMs === undefined ? undefined : now + s.recheckMs;
  }
}

/** A delivery activity failed: keep what it delivered, and plan the next attempt. Returns the delay. */
export function afterFailure(s: Outcomes, f: FailureView, now: number, random: number): number {
  if (f.partial) count(s, f.partial, now);
  const attempts = (s.retry?.attempts ?? 0) + 1;
  const delay =
    f.retryDelayMs !== undefined ? boundDelayMs(f.retryDelayMs, s.schedule) : retryDelayMs(attempts, f.retryAfterMs, random, s.schedule);
  s.progress.errorCount += 1;
  s.progress.lastError = f.message;
  s.progress.lastErrorAt = iso(now);
  s.retry = { since: s.retry?.since ?? iso(now), attempts, nextAttemptAt: iso(now + delay), error: f.message };
  return delay;
}

/** Counters, and the cursor unless the result belongs to a generation a reset has left behind. */
function count(s: Outcomes, r: DeliverResult, now: number): void {
  const generation = r.generation ?? 0;
  if (generation >= s.generation) {
    // The database's generation is newer when a reset did not reach this workflow (signal lost).
    if (generation > s.generation) s.resetAt = r.resetAt ?? s.resetAt;
    s.generation = generation;
    s.progress.cursor = { ...r.cursor };
  }
  s.cursorAhead = r.cursorAhead;
  s.progress.rowsDelivered += r.rows;
  s.progress.pagesDelivered += r.pages;
  s.progress.postCount += r.postCount;
  s.progress.postMsTotal += r.postMsTotal;
  if (r.rows > 0) s.recent.push([now, r.rows]);
  while (s.recent.length > 0 && s.recent[0]![0] < now - 60_000) s.recent.shift();
}


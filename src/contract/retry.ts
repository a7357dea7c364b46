/**
 * When a target's next delivery attempt comes after a failure. Pure (no clock, no randomness of
 * its own): the workflow passes its deterministic `Math.random()`, the activity its own.
 */

/** The retry schedule as data; production uses DEFAULT_RETRY, fast tests a scaled-down copy. */
export interface RetrySchedule {
  /** Never less than this between two attempts to one target, whatever a receiver says. */
  minMs: number;
  /** The first backoff step; it doubles with every consecutive failure. */
  initialMs: number;
  /** The cap: a receiver back after a long outage waits at most this long. */
  maxMs: number;
  /** Spread, as a fraction of the delay, so that targets failing together do not retry together. */
  jitter: number;
}

export const DEFAULT_RETRY: RetrySchedule = { minMs: 1_000, initialMs: 1_000, maxMs: 5 * 60_000, jitter: 0.2 };

/**
 * The delay before attempt `attempt + 1`, after `attempt` consecutive failures.
 *
 * - Without a usable Retry-After: capped exponential backoff (1 s, 2 s, 4 s … 5 min), ±jitter.
 * - With one (429/503): what the receiver asked for plus up to +jitter (never earlier than asked),
 *   but never below the floor (`Retry-After: 0` or a date in the past would otherwise make a tight
 *   loop) and never above the cap.
 *
 * A value the jitter pushes past the floor or the cap is folded back inside, so the delays stay
 * spread out at both ends instead of piling up on one value (a Retry-After close to the cap may
 * thus come a little early: the cap wins).
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, random: number, schedule: RetrySchedule = DEFAULT_RETRY): number {
  const { minMs, maxMs, jitter } = schedule;
  const r = Number.isFinite(random) ? Math.min(Math.max(random, 0), 1) : 0.5;
  let delay: number;
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) {
    const asked = Math.min(Math.max(retryAfterMs, minMs), maxMs);
    delay = asked + asked * jitter * r;
  } else {
    const steps = Math.min(Math.max(0, Math.floor(attempt) - 1), 60);
    const base = Math.min(schedule.initialMs * 2 ** steps, maxMs);
    delay = base * (1 + jitter * (2 * r - 1));
  }
  return Math.round(fold(delay, minMs, maxMs));
}

/** Keeps a computed delay (from an activity, or carried over a continue-as-new) within the schedule. */
export function boundDelayMs(ms: number, schedule: RetrySchedule = DEFAULT_RETRY): number {
  if (!Number.isFinite(ms)) return schedule.maxMs;
  return Math.round(Math.min(Math.max(ms, schedule.minMs), schedule.maxMs));
}

/** `v` reflected back into [lo, hi] at whichever edge it crossed. */
function fold(v: number, lo: number, hi: number): number {
  if (v > hi) v = hi - (v - hi);
  if (v < lo) v = lo + (lo - v);
  return Math.min(Math.max(v, lo), hi);
}

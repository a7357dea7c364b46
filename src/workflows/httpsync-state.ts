import { boundDelayMs, DEFAULT_RETRY, retryDelayMs, type RetrySchedule } from '../contract/retry';
import { applySettings, settingsProblems } from '../contract/target-settings';
import { cursorAheadWarning } from '../contract/cursor';
import type { CursorReset, DeliveryProgress, HttpSyncInput, HttpSyncStatus, RetryState, SyncState, TargetChange, TargetLabels, TargetSettings } from '../contract/httpsync';
import type { DeliverInput, DeliverResult } from '../contract/delivery';
import { START_CURSOR } from '../contract/cursor';

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

const iso = (ms: number) => new Date(ms).toISOString();
const at = (value: string | undefined) => (value === undefined ? undefined : Date.parse(value));

/**
 * The state of one target's workflow, and every rule of how it changes: plain data and pure
 * methods, with times passed in, so the workflow function is only the control flow and this is
 * tested and carried across continue-as-new as it is.
 */
export class TargetState {
  readonly targetId: string;
  settings: TargetSettings;
  labels: TargetLabels;
  readonly progress: DeliveryProgress;
  retry?: RetryState;
  generation: number;
  resetAt?: string;
  readonly restartedAt?: string;
  /** A drain that has more pages to send. */
  draining: boolean;
  /** A sync was asked for (trigger, new rows, resume, reset). */
  wake: boolean;
  deleted = false;
  /** Settings changed while waiting: the wait is worked out again. */
  reconfigured = false;
  /** The URL changed: the first run's static summary names the old one, so roll over (see `rollOverDue`). */
  summaryStale = false;
  /** Why the last change that reached the workflow was refused. */
  refused?: string;
  cursorAhead?: { nextTxid: string };
  lastSyncEndedAt: number;
  private recheckAt?: number;
  private recheckMs?: number;
  /** (time, rows) of recent deliveries, for the rows-per-minute figure; not carried across runs. */
  private readonly recent: Array<[number, number]> = [];
  readonly schedule: RetrySchedule;

  constructor(input: HttpSyncInput, now: number) {
    this.targetId = input.targetId;
    this.settings = { ...input.settings };
    this.labels = { ...input.labels };
    this.progress = input.progress
      ? { ...input.progress, cursor: { ...input.progress.cursor } }
      : { cursor: START_CURSOR, rowsDelivered: 0, pagesDelivered: 0, postCount: 0, postMsTotal: 0, syncs: 0, errorCount: 0 };
    this.retry = input.retry && { ...input.retry };
    this.generation = input.generation ?? 0;
    this.resetAt = input.resetAt;
    this.restartedAt = input.restartedAt;
    this.draining = input.draining ?? false;
    // A new target syncs at once; a continued one picks up where it was.
    this.wake = input.wake ?? input.progress === undefined;
    this.lastSyncEndedAt = at(input.lastSyncAt) ?? now;
    this.recheckAt = at(input.recheckAt);
    this.schedule = input.retrySchedule ?? DEFAULT_RETRY;
  }

  get interrupted(): boolean {
    return this.deleted || this.settings.paused;
  }

  /** How long to wait before the next delivery attempt; 0 when it is due now. */
  waitMs(now: number): number {
    if (this.wake || (this.draining && !this.retry)) return 0;
    if (this.retry) return Math.max(0, Date.parse(this.retry.nextAttemptAt) - now);
    const untilPeriod = this.lastSyncEndedAt + this.settings.periodSeconds * 1000 - now;
    const untilRecheck = this.recheckAt === undefined ? Infinity : this.recheckAt - now;
    return Math.max(0, Math.min(untilPeriod, untilRecheck));
  }

  /** What the wait of `waitMs` is for: a retry, a look for held-back rows, or the period. */
  waitKind(now: number): 'retry' | 'recheck' | 'period' {
    if (this.retry) return 'retry';
    const untilPeriod = this.lastSyncEndedAt + this.settings.periodSeconds * 1000 - now;
    return this.recheckAt !== undefined && this.recheckAt - now < untilPeriod ? 'recheck' : 'period';
  }

  /** Called when a delivery attempt starts; true when it begins a new sync (not a retry, not the next part of a drain). */
  startAttempt(): boolean {
    const fresh = !this.draining && !this.retry;
    if (fresh) this.progress.syncs += 1;
    this.wake = false;
    return fresh;
  }

  deliveryInput(): DeliverInput {
    return {
      targetId: this.targetId,
      cursor: { ...this.progress.cursor },
      generation: this.generation,
      pageSize: this.settings.pageSize,
      timeoutSeconds: this.settings.timeoutSeconds,
      firstPage: this.progress.pagesDelivered + 1,
      attempt: (this.retry?.attempts ?? 0) + 1,
      ...(this.schedule === DEFAULT_RETRY ? {} : { retrySchedule: this.schedule }),
    };
  }

  /** A delivery activity returned. */
  delivered(r: DeliverResult, now: number): void {
    this.count(r, now);
    this.progress.lastSuccessAt = iso(now);
    this.retry = undefined;
    if (r.stopped === 'deleted') this.deleted = true;
    this.draining = r.more && !r.stopped;
    if (r.stopped === 'reset') this.wake = true;
    if (!this.draining && !this.wake) {
      this.lastSyncEndedAt = now;
      this.recheckMs = r.heldBack
        ? Math.min(this.recheckMs === undefined ? HELD_BACK_RECHECK_MS : this.recheckMs * 2, HELD_BACK_RECHECK_MAX_MS, this.settings.periodSeconds * 1000)
        : undefined;
      this.recheckAt = this.recheckMs === undefined ? undefined : now + this.recheckMs;
    }
  }

  /** A delivery activity failed: keep what it delivered, and plan the next attempt. Returns the delay. */
  failed(f: FailureView, now: number, random: number): number {
    if (f.partial) this.count(f.partial, now);
    const attempts = (this.retry?.attempts ?? 0) + 1;
    const delay =
      f.retryDelayMs !== undefined ? boundDelayMs(f.retryDelayMs, this.schedule) : retryDelayMs(attempts, f.retryAfterMs, random, this.schedule);
    this.progress.errorCount += 1;
    this.progress.lastError = f.message;
    this.progress.lastErrorAt = iso(now);
    this.retry = { since: this.retry?.since ?? iso(now), attempts, nextAttemptAt: iso(now + delay), error: f.message };
    return delay;
  }

  /** Counters, and the cursor unless the result belongs to a generation a reset has left behind. */
  private count(r: DeliverResult, now: number): void {
    const generation = r.generation ?? 0;
    if (generation >= this.generation) {
      // The database's generation is newer when a reset did not reach this workflow (signal lost).
      if (generation > this.generation) this.resetAt = r.resetAt ?? this.resetAt;
      this.generation = generation;
      this.progress.cursor = { ...r.cursor };
    }
    this.cursorAhead = r.cursorAhead;
    this.progress.rowsDelivered += r.rows;
    this.progress.pagesDelivered += r.pages;
    this.progress.postCount += r.postCount;
    this.progress.postMsTotal += r.postMsTotal;
    if (r.rows > 0) this.recent.push([now, r.rows]);
    while (this.recent.length > 0 && this.recent[0]![0] < now - 60_000) this.recent.shift();
  }

  /** A `configure` signal or update; returns what was refused (the rest is applied). */
  change(c: TargetChange): string[] {
    const problems = settingsProblems(c);
    if (problems.length > 0) {
      this.refused = `a change of settings was refused: ${problems.join('; ')}`;
      // A signal applies the fields that are right; an update's validator refuses it whole before this.
      const fields = Object.fromEntries(Object.entries(c).filter(([k, v]) => settingsProblems({ [k]: v }).length === 0)) as TargetChange;
      this.apply(fields);
      return problems;
    }
    this.refused = undefined;
    this.apply(c);
    return [];
  }

  private apply(c: TargetChange): void {
    const wasPaused = this.settings.paused;
    this.settings = applySettings(this.settings, c);
    if (wasPaused && !this.settings.paused) this.wake = true;
    if (c.maskedUrl !== undefined && c.maskedUrl !== this.labels.maskedUrl) {
      this.labels = { ...this.labels, maskedUrl: c.maskedUrl };
      this.summaryStale = true;
      // Verified just now: a retry goes to the new URL at once.
      if (this.retry) this.wake = true;
    }
    this.reconfigured = true;
  }

  pause(): void {
    this.settings.paused = true;
  }

  resume(): void {
    this.settings.paused = false;
    this.wake = true;
  }

  /** The cursor back to the start; a reset of a generation this workflow already has is ignored. */
  reset(r: CursorReset): boolean {
    if (!Number.isInteger(r?.generation) || r.generation <= this.generation) return false;
    this.generation = r.generation;
    this.resetAt = r.at;
    this.progress.cursor = { ...START_CURSOR };
    this.cursorAhead = undefined;
    this.draining = false;
    this.retry = undefined;
    this.wake = true;
    return true;
  }

  status(state: SyncState, now: number): HttpSyncStatus {
    const warnings: string[] = [];
    if (this.cursorAhead) warnings.push(cursorAheadWarning(this.targetId, this.progress.cursor, this.cursorAhead.nextTxid));
    if (this.refused) warnings.push(this.refused);
    return {
      targetId: this.targetId,
      state,
      settings: { ...this.settings },
      progress: { ...this.progress, cursor: { ...this.progress.cursor } },
      maskedUrl: this.labels.maskedUrl,
      retry: this.retry && { ...this.retry },
      nextSyncAt: iso(this.lastSyncEndedAt + this.settings.periodSeconds * 1000),
      rowsPerMinute: this.recent.filter(([t]) => t > now - 60_000).reduce((sum, [, rows]) => sum + rows, 0),
      recentDeliveries: this.recent.map(([t, rows]): [number, number] => [t, rows]),
      generation: this.generation,
      ...(this.resetAt ? { resetAt: this.resetAt } : {}),
      ...(this.restartedAt ? { restartedAt: this.restartedAt } : {}),
      warnings,
    };
  }

  /** The input of the next run: everything a continue-as-new must not lose. */
  carry(input: HttpSyncInput): HttpSyncInput {
    return {
      ...input,
      settings: { ...this.settings },
      labels: { ...this.labels },
      progress: { ...this.progress, cursor: { ...this.progress.cursor } },
      wake: this.wake,
      draining: this.draining,
      retry: this.retry && { ...this.retry },
      lastSyncAt: iso(this.lastSyncEndedAt),
      recheckAt: this.recheckAt === undefined ? undefined : iso(this.recheckAt),
      generation: this.generation,
      resetAt: this.resetAt,
    };
  }
}

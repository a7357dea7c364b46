import { DEFAULT_RETRY, type RetrySchedule } from '../contract/retry';
import { START_CURSOR } from '../contract/cursor';
import type { DeliverInput, DeliverResult } from '../contract/delivery';
import type { CursorReset, DeliveryProgress, HttpSyncInput, HttpSyncStatus, RetryState, SyncState, TargetChange, TargetLabels, TargetSettings } from '../contract/httpsync';
import { changeSettings, applyReset } from './httpsync-changes';
import { afterDelivery, afterFailure, type FailureView } from './httpsync-outcomes';
import { carryOf, statusOf } from './httpsync-snapshot';

const at = (value: string | undefined) => (value === undefined ? undefined : Date.parse(value));

/**
 * The state of one target's workflow and its timing: plain data and pure methods, with times
 * passed in, so the workflow function is only the control flow and this is tested and carried
 * across continue-as-new as it is. Delivery outcomes (httpsync-outcomes.ts), changes from outside
 * (httpsync-changes.ts) and what it shows and carries (httpsync-snapshot.ts) have modules of their own.
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
  /** A sync was asked for (trigger, resume, reset; new rows before ROWS_KEEP_RETRY). */
  wake: boolean;
  /** New rows were announced (`rowsChanged`): a sync now, unless a retry waits (its wait holds). */
  rowsChanged: boolean;
  deleted = false;
  /** Settings changed while waiting: the wait is worked out again. */
  reconfigured = false;
  /** The URL changed: the first run's static summary names the old one, so roll over (see `rollOverDue`). */
  summaryStale = false;
  /** Why the last change that reached the workflow was refused. */
  refused?: string;
  cursorAhead?: { nextTxid: string };
  lastSyncEndedAt: number;
  /** When rows held back by an open transaction are looked for again. */
  recheckAt?: number;
  /** The current step of those looks (it doubles). */
  recheckMs?: number;
  /** (time, rows) of recent deliveries, for the rows-per-minute figure; not carried across runs. */
  readonly recent: Array<[number, number]> = [];
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
    this.rowsChanged = input.rowsChanged ?? false;
    this.lastSyncEndedAt = at(input.lastSyncAt) ?? now;
    this.recheckAt = at(input.recheckAt);
    this.schedule = input.retrySchedule ?? DEFAULT_RETRY;
  }

  get interrupted(): boolean {
    return this.deleted || this.settings.paused;
  }

  /** A sync is due now: asked for, or new rows while no retry waits. */
  get woken(): boolean {
    return this.wake || (this.rowsChanged && !this.retry);
  }

  /** How long to wait before the next delivery attempt; 0 when it is due now. */
  waitMs(now: number): number {
    if (this.woken || (this.draining && !this.retry)) return 0;
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
    this.rowsChanged = false;
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
    afterDelivery(this, r, now);
  }

  /** A delivery activity failed: keep what it delivered, and plan the next attempt. Returns the delay. */
  failed(f: FailureView, now: number, random: number): number {
    return afterFailure(this, f, now, random);
  }

  /** A `configure` signal or update; returns what was refused (the rest is applied). */
  change(c: TargetChange): string[] {
    return changeSettings(this, c);
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
    return applyReset(this, r);
  }

  status(state: SyncState, now: number): HttpSyncStatus {
    return statusOf(this, state, now);
  }

  /** The input of the next run: everything a continue-as-new must not lose. */
  carry(input: HttpSyncInput): HttpSyncInput {
    return carryOf(this, input);
  }
}

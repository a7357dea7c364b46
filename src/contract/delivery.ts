/** Shapes of the delivery activity (deliverPages) that HTTP Sync runs. Plain data only: they land in history. */
import type { Cursor } from './cursor';
import type { RetrySchedule } from './retry';

/**
 * How long one activity keeps draining before it returns its cursor to the workflow: long enough
 * that Temporal's cost is paid per drain, short enough that the workflow's state (and the UI)
 * follows along and that pause/update land promptly. An `update` verifying a new URL waits this
 * long (and one POST) for a delivery in flight.
 */
export const DRAIN_BUDGET_MS = 10_000;

/** What one delivery activity did: it may deliver many pages before returning. */
export interface DeliverResult {
  /** Where the next delivery starts: the last delivered row, or where this one started. */
  cursor: Cursor;
  /** The generation `cursor` belongs to (the database's, which a reset bumps). */
  generation: number;
  rows: number;
  pages: number;
  postCount: number;
  postMsTotal: number;
  /** False when no page was left; true when it stopped for its time budget. */
  more: boolean;
  /** The target was deleted, paused or reset in the database while delivering. */
  stopped?: 'deleted' | 'paused' | 'reset';
  /** No page was left, but committed rows after the cursor wait for an older open transaction to end. */
  heldBack?: boolean;
  /** When the database's cursor was last reset (with `generation`). */
  resetAt?: string;
  /**
   * The cursor is at or past the next transaction id this database will hand out: it was restored
   * or moved to another cluster, and new rows would sort before the cursor (never delivered).
   */
  cursorAhead?: { nextTxid: string };
}

export interface DeliverInput {
  targetId: string;
  cursor: Cursor;
  /** The generation of `cursor` as the workflow knows it (0 until a reset). */
  generation?: number;
  pageSize: number;
  timeoutSeconds: number;
  /** Page number of the first page this activity sends (for the page id and the UI). */
  firstPage: number;
  /** 1 for a first attempt; n after n - 1 failures in a row (for the backoff and the metrics). */
  attempt?: number;
  retrySchedule?: RetrySchedule;
}

/** Failure details of a delivery activity: what got through before it failed. */
export interface DeliverFailureDetails {
  partial: DeliverResult;
  /** The receiver's Retry-After, in ms, when it sent one. */
  retryAfterMs?: number;
  /** The delay the activity chose before the next attempt (and recorded for info and /metrics). */
  retryDelayMs?: number;
}

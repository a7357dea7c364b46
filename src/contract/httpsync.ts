/** Shapes of the HTTP Sync workflow that cross its boundary. Plain data only: everything here lands in history. */
import type { Cursor } from './cursor';
import type { RetrySchedule } from './retry';

export type SyncMode = 'interval' | 'on_insert';

export interface TargetSettings {
  periodSeconds: number;
  pageSize: number;
  timeoutSeconds: number;
  mode: SyncMode;
  paused: boolean;
}

/**
 * A change that reaches a running workflow (the `configure` signal or update): settings, and the
 * masked URL after the URL changed. Checked there by `settingsProblems` before it is applied.
 */
export type TargetChange = Partial<TargetSettings> & { maskedUrl?: string };

/** Names for the UI. Never the URL's credentials: `maskedUrl` is `https://***:***@host/path`. */
export interface TargetLabels {
  integrationId: string;
  service: string;
  table: string;
  maskedUrl: string;
}

export interface DeliveryProgress {
  cursor: Cursor;
  rowsDelivered: number;
  pagesDelivered: number;
  postCount: number;
  postMsTotal: number;
  syncs: number;
  errorCount: number;
  lastSuccessAt?: string;
  lastError?: string;
  lastErrorAt?: string;
}

/** A retry under way: since when, how many attempts failed in a row, when the next one starts. */
export interface RetryState {
  since: string;
  attempts: number;
  nextAttemptAt: string;
  error: string;
}

/**
 * `hooksync httpsync reset --from-start`: the cursor goes back to the start under a new
 * generation. Deliveries of an older generation still in flight can no longer move the cursor.
 */
export interface CursorReset {
  generation: number;
  at: string;
}

/** The default of HOOKSYNC_HISTORY_LIMIT for HTTP Sync runs (Temporal suggests rolling over at about 4,096). */
export const DEFAULT_HISTORY_LIMIT = 4000;

export interface HttpSyncInput {
  targetId: string;
  settings: TargetSettings;
  labels: TargetLabels;
  /** Set by continue-as-new, or from the database's record when the workflow is started again. */
  progress?: DeliveryProgress;
  /** Continue as new past this many history events (default DEFAULT_HISTORY_LIMIT). */
  historyLimit?: number;
  /** A sync was asked for (trigger, resume) when the previous run continued as new. */
  wake?: boolean;
  /** New rows were announced (`rowsChanged`) when the previous run continued as new. */
  rowsChanged?: boolean;
  /** Carried by continue-as-new: a drain that had more pages to send. */
  draining?: boolean;
  /** Carried by continue-as-new: a retry under way, waiting for its next attempt. */
  retry?: RetryState;
  /** Carried: when the last sync ended (ISO), so the period runs on across runs. */
  lastSyncAt?: string;
  /** Carried: when rows held back by open transactions are looked for again (ISO). */
  recheckAt?: string;
  /** The cursor's generation (0 until the first reset) and when the last reset happened. */
  generation?: number;
  resetAt?: string;
  /** When this workflow was started again from the database's record (self-repair or `restart`). */
  restartedAt?: string;
  /** Retry timing; tests pass a scaled-down schedule. Default DEFAULT_RETRY. */
  retrySchedule?: RetrySchedule;
}

export type SyncState = 'waiting' | 'delivering' | 'retrying' | 'paused' | 'deleted';

export interface HttpSyncStatus {
  targetId: string;
  state: SyncState;
  settings: TargetSettings;
  progress: DeliveryProgress;
  /** The masked URL the target delivers to (as of the last `update`). */
  maskedUrl?: string;
  /** When the next sync starts if nothing wakes it earlier. */
  nextSyncAt?: string;
  /** While retrying: since when, how many attempts, when the next one starts. */
  retry?: RetryState;
  /** Rows delivered in the last minute, by the workflow's clock (in a query: the time of its last task). */
  rowsPerMinute: number;
  /**
   * [epoch ms, rows] of the deliveries of about the last minute, so that a client can count the
   * rows per minute by its own clock: an idle workflow's clock stands still.
   */
  recentDeliveries?: Array<[number, number]>;
  generation?: number;
  resetAt?: string;
  restartedAt?: string;
  /** Problems someone should look at: a cursor ahead of the database, a refused change. */
  warnings?: string[];
}

/** Shapes that cross the workflow boundary. Plain data only: everything here lands in history. */
import type { RetrySchedule } from './httpsync-retry';

/** Position in a table's change stream: the last delivered row's (_txid, _seq), as decimal strings. */
export interface Cursor {
  txid: string;
  seq: string;
}

export const START_CURSOR: Cursor = { txid: '0', seq: '0' };

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
  /** A sync was asked for (trigger, new rows) when the previous run continued as new. */
  wake?: boolean;
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

export interface IngestInput {
  integrationId: string;
  service: string;
  shard: number;
  shards: number;
  /** Set by continue-as-new: counters and what the details showed, never events. */
  totals?: IngestTotals;
  /** The previous run's last apply, for the details of a continued run. */
  lastApply?: string;
  inbox?: InboxView;
  /** A wake-up arrived that no apply has answered yet. */
  woken?: boolean;
  /** The highest inbox position a wake-up announced. */
  announced?: string;
  /** Continue as new past this many history events (default in the workflow). */
  historyLimit?: number;
}

/** What a wake-up says: rows wait in the inbox, at least up to position `upTo`. */
export interface IngestWake {
  upTo?: string;
}

export interface IngestTotals {
  /** Events taken from the inbox: applied, discarded or dead-lettered. */
  taken: number;
  applied: number;
  /** Older than the stored row, superseded within an apply, or the same version again. */
  discarded: number;
  /** Events the database refused, kept in the dead-letter table. */
  deadLettered: number;
  /** Apply activities run. */
  applies: number;
  wakeUps: number;
}

/** The shard's inbox as the last apply left it. */
export interface InboxView {
  waiting: number;
  oldestAgeSeconds: number | null;
  /** When it was measured (ISO). */
  at: string;
}

export interface ApplyInput {
  integrationId: string;
  shard: number;
}

/** What one apply activity did. Counts and ids only: no customer data crosses into Temporal. */
export interface ApplyResult {
  taken: number;
  applied: number;
  discarded: number;
  deadLettered: number;
  /** Statements that took rows (each one transaction). */
  batches: number;
  /** The highest inbox position taken, if any. */
  upTo?: string;
  /** It stopped for its time budget with rows left: run again at once. */
  more: boolean;
  inbox: InboxView;
  /** The on-insert targets it signalled (rows changed). */
  onInsertTargets: string[];
  /** Another apply of the shard was running (it takes these rows). */
  busy?: boolean;
  /** The apply kept failing for its whole budget (e.g. the table is locked); it is run again. */
  failing?: { error: string; since: string; attempts: number };
  /** The integration no longer exists (deleted): what waited went to the dead letters, and the workflow ends. */
  gone?: boolean;
}

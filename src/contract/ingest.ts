/** Shapes of the ingest workflow and its apply activity. Plain data only: everything here lands in history. */

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

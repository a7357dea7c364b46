/** Shapes of the backfill workflow that cross its boundary. Plain data only: everything here lands in history. */

export type BackfillState = 'running' | 'retrying' | 'done' | 'failed';

/** How far a backfill got: the last key listed (the page cursor) and what was fetched and applied. */
export interface BackfillProgress {
  /** The remote key of the last resource listed; the next page starts after it. Absent before the first page. */
  cursor?: string;
  pages: number;
  /** Resources listed. */
  rows: number;
  /** Of those, rows the conditional upsert inserted or changed (not older than, nor equal to, what the table held). */
  applied: number;
}

export interface BackfillRetry {
  since: string;
  attempts: number;
  nextAttemptAt: string;
  error: string;
}

/** The `backfillStatus` query's answer, the workflow's result, and what continue-as-new carries. */
export interface BackfillStatus extends BackfillProgress {
  integrationId: string;
  state: BackfillState;
  /** The API the resources are listed from (never with credentials: the key stays in PostgreSQL). */
  apiBase: string;
  startedAt: string;
  finishedAt?: string;
  lastPageAt?: string;
  retry?: BackfillRetry;
  /** Why it failed (state `failed`), or the last error it retried after. */
  lastError?: string;
  /** Runs of the workflow so far (1 + continue-as-new count). */
  runs: number;
}

export interface BackfillInput {
  integrationId: string;
  service: string;
  table: string;
  apiBase: string;
  /** Continue as new past this many history events (HOOKSYNC_HISTORY_LIMIT; default DEFAULT_HISTORY_LIMIT). */
  historyLimit?: number;
  /** Carried by continue-as-new. */
  status?: BackfillStatus;
}

export interface FetchPagesInput {
  integrationId: string;
  apiBase: string;
  cursor?: string;
}

/** One fetchBackfillPages activity: the new cursor, and the pages, rows and applied rows it added. */
export interface FetchPagesResult extends BackfillProgress {
  /** The last page said no more follow. */
  done: boolean;
  lastPageAt?: string;
}

/** The details of a failed fetchBackfillPages: what it did before failing, and what the upstream asked. */
export interface FetchPagesFailureDetails {
  partial: FetchPagesResult;
  retryAfterMs?: number;
}

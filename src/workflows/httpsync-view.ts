import type { DeliverResult, DeliveryProgress, HttpSyncStatus } from './types';

/** Pure helpers of the HTTP Sync workflow: retry delays and what the Temporal UI shows. */

export const RETRY_INITIAL_MS = 1_000;
/** The cap of the exponential backoff: a receiver back after a long outage waits at most this long. */
export const RETRY_MAX_MS = 5 * 60_000;

/** Capped exponential backoff with ±20% jitter; a receiver's Retry-After wins, within the cap. */
export function retryDelayMs(attempt: number, retryAfterMs: number | undefined, random: number): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, RETRY_MAX_MS);
  const base = Math.min(RETRY_INITIAL_MS * 2 ** Math.max(0, attempt - 1), RETRY_MAX_MS);
  return Math.round(Math.min(base * (0.8 + 0.4 * random), RETRY_MAX_MS));
}

export function addDelivery(p: DeliveryProgress, r: DeliverResult): void {
  if (r.pages > 0) p.cursor = r.cursor;
  p.rowsDelivered += r.rows;
  p.pagesDelivered += r.pages;
  p.postCount += r.postCount;
  p.postMsTotal += r.postMsTotal;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

const time = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–');

export function stateLine(s: HttpSyncStatus): string {
  switch (s.state) {
    case 'waiting':
      return `waiting until ${time(s.nextSyncAt)}` + (s.settings.mode === 'on_insert' ? ' or new rows' : '') + ' (or a trigger)';
    case 'delivering':
      return `delivering page ${s.progress.pagesDelivered + 1}`;
    case 'retrying':
      return s.retry
        ? `retrying after ${s.retry.error} since ${time(s.retry.since)} (attempt ${s.retry.attempts + 1} at ${time(s.retry.nextAttemptAt)})`
        : 'retrying';
    case 'paused':
      return 'paused (hooksync httpsync resume <id>)';
    case 'deleted':
      return 'deleted: nothing more is sent';
  }
}

/** The workflow's current details (Markdown), as the Temporal UI shows them. */
export function detailsMarkdown(s: HttpSyncStatus, labels: { service: string; integrationId: string; table: string; maskedUrl: string }): string {
  const p = s.progress;
  const avg = p.postCount ? formatDuration(p.postMsTotal / p.postCount) : '–';
  const mode = s.settings.mode === 'on_insert' ? `on insert, at least every ${s.settings.periodSeconds} s` : `every ${s.settings.periodSeconds} s`;
  return [
    `**HTTP Sync** of \`${labels.table}\` (${labels.service}, \`${labels.integrationId}\`) to ${labels.maskedUrl}`,
    '',
    `**State:** ${stateLine(s)}`,
    '',
    '| | |',
    '|---|---|',
    `| Cursor | \`${p.cursor.txid}/${p.cursor.seq}\` |`,
    `| Delivered | ${p.rowsDelivered} rows in ${p.pagesDelivered} pages (${p.syncs} syncs) |`,
    `| Average POST | ${avg} |`,
    `| Last success | ${time(p.lastSuccessAt)} |`,
    `| Last error | ${p.lastError ? `${p.lastError} at ${time(p.lastErrorAt)} (${p.errorCount} errors in all)` : '–'} |`,
    `| Next sync | ${s.state === 'waiting' ? time(s.nextSyncAt) : s.state === 'paused' ? 'when resumed' : 'now'} |`,
    `| Settings | ${mode}; pages of ${s.settings.pageSize} rows; POST timeout ${s.settings.timeoutSeconds} s |`,
  ].join('\n');
}

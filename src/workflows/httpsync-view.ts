import type { DeliverResult, DeliveryProgress, HttpSyncStatus, SyncMode, TargetLabels } from './types';

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

/**
 * The summary of one deliverPages activity, fixed when it is scheduled: it POSTs page after page
 * from `firstPage` on until none is left (or its time budget ends), so it names where it starts,
 * not how many it will send. Its result (in the history) and the details tell how far it got.
 */
export function deliverySummary(firstPage: number, pageSize: number): string {
  return `POST pages ${firstPage}…: up to ${pageSize} rows each`;
}

/**
 * The summary of the timer between syncs: how long it really waits (what is left of the period,
 * or a short recheck for rows an open transaction held back), and for what.
 */
export function waitSummary(waitMs: number, mode: SyncMode, heldBack = false): string {
  if (heldBack) return `wait ${formatDuration(waitMs)}, then look again for rows held back by open transactions (or a trigger)`;
  return `wait ${formatDuration(waitMs)} for the next sync` + (mode === 'on_insert' ? ', new rows' : '') + ' or a trigger';
}

/** `2026-11-27 12:41:45 UTC`: an ISO time as the Temporal UI and a person read it. */
const time = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC') : '–');

/**
 * A Markdown code span showing `text` verbatim: the Temporal UI renders summaries and details as
 * Markdown, where a masked URL's `***` would turn into bold and an error's `<html>` or `_` into
 * markup. A fence longer than any backtick run inside keeps even backticks literal.
 */
export function mdCode(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '–';
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return fence + pad + flat + pad + fence;
}

/**
 * Markdown for the Temporal UI's summary and details frames. The UI (2.42) makes each frame as
 * high as the rendered body, which leaves out the margins above the first and below the last
 * block, so about the last 30 px (a whole line) would be cut off. A last paragraph of one
 * no-break space (the UI escapes `&nbsp;`) takes that cut instead; elsewhere it is a blank line.
 */
export function forTemporalUi(markdown: string): string {
  return `${markdown}\n\n\u00a0`;
}

/** Cuts a long text (a URL with a long path) to `max` characters, ending it with an ellipsis. */
const clip = (text: string, max: number) => (text.length > max ? text.slice(0, max - 1) + '…' : text);

/** The state in one line; `quote` marks up the error text (verbatim in a terminal, a code span in Markdown). */
export function stateLine(s: HttpSyncStatus, quote: (text: string) => string = (t) => t): string {
  switch (s.state) {
    case 'waiting':
      return `waiting until ${time(s.nextSyncAt)}` + (s.settings.mode === 'on_insert' ? ', new rows' : '') + ' or a trigger';
    case 'delivering':
      return `delivering page ${s.progress.pagesDelivered + 1}`;
    case 'retrying':
      return s.retry
        ? `retrying after ${quote(s.retry.error)} since ${time(s.retry.since)}; attempt ${s.retry.attempts + 1} at ${time(s.retry.nextAttemptAt)}`
        : 'retrying';
    case 'paused':
      return 'paused (hooksync httpsync resume <id>)';
    case 'deleted':
      return 'deleted: nothing more is sent';
  }
}

/**
 * The workflow's static summary (one line of Markdown): what is synced where. The URL is the
 * masked one; no credentials reach Temporal.
 */
export function summaryMarkdown(labels: TargetLabels): string {
  return `HTTP Sync of ${mdCode(labels.table)} (${labels.service} ${mdCode(labels.integrationId)}) to ${mdCode(clip(labels.maskedUrl, 160))}`;
}

function nextSync(s: HttpSyncStatus): string {
  switch (s.state) {
    case 'waiting':
      return time(s.nextSyncAt);
    case 'retrying':
      return s.retry ? `the retry at ${time(s.retry.nextAttemptAt)}` : 'now';
    case 'paused':
      return 'when resumed';
    case 'deleted':
      return 'none';
    default:
      return 'now';
  }
}

/**
 * The workflow's current details (Markdown), as the Temporal UI shows them beside the summary.
 * One "label: value" line each (hard line breaks), not a table: the UI shows the details in a
 * frame about 250 px high without a style sheet, where a table's empty header row and cell padding
 * pushed the last lines out of sight. Texts that come from outside (error messages) are code spans.
 */
export function detailsMarkdown(s: HttpSyncStatus, _labels?: TargetLabels): string {
  const p = s.progress;
  const avg = p.postCount ? `; average POST ${formatDuration(p.postMsTotal / p.postCount)}` : '';
  const mode = s.settings.mode === 'on_insert' ? `on insert, at least every ${s.settings.periodSeconds} s` : `every ${s.settings.periodSeconds} s`;
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  const lines = [
    `**State:** ${stateLine(s, mdCode)}`,
    `**Delivered:** ${plural(p.rowsDelivered, 'row')} in ${plural(p.pagesDelivered, 'page')} (${plural(p.syncs, 'sync')})${avg}`,
    `**Cursor:** \`${p.cursor.txid}/${p.cursor.seq}\``,
    `**Last success:** ${time(p.lastSuccessAt)}`,
    `**Last error:** ${p.lastError ? `${mdCode(clip(p.lastError, 300))} at ${time(p.lastErrorAt)} (${plural(p.errorCount, 'error')} in all)` : '–'}`,
    `**Next sync:** ${nextSync(s)}`,
    `**Settings:** ${mode}; pages of ${s.settings.pageSize} rows; POST timeout ${s.settings.timeoutSeconds} s`,
  ];
  // A backslash at the end of a line is a hard line break in CommonMark (the UI's renderer).
  return forTemporalUi(lines.join('\\\n'));
}

import { clip, formatDuration, utcTime } from '../text/format';
import { forTemporalUi, mdCode } from '../text/markdown';
import type { Cursor } from '../contract/cursor';
import type { HttpSyncStatus, SyncMode, TargetLabels } from '../contract/httpsync';

/** What the Temporal UI shows of an HTTP Sync workflow (Markdown), apart from its control flow. */

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

const time = (iso?: string) => (iso ? utcTime(iso) : '–');

/** Cuts a long text (a URL with a long path) to `max` characters, ending it with an ellipsis. */

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
      return 'deleted: no new POST is sent';
  }
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

/** The timer of a retry: how long, and after what. */
export function retrySummary(waitMs: number, error: string): string {
  return `retry in ${formatDuration(waitMs)} after: ${clip(error.replace(/\s+/g, ' '), 200)}`;
}

/** The summary of the workflow's timer, by what it waits for (`TargetState.waitKind`). */
export function timerSummary(kind: 'retry' | 'recheck' | 'period', waitMs: number, mode: SyncMode, error = ''): string {
  return kind === 'retry' ? retrySummary(waitMs, error) : waitSummary(waitMs, mode, kind === 'recheck');
}

/**
 * The workflow's current details (Markdown), as the Temporal UI shows them beside the summary.
 * One "label: value" line each (hard line breaks), not a table: the UI shows the details in a
 * frame about 250 px high without a style sheet, where a table's empty header row and cell padding
 * pushed the last lines out of sight. Texts that come from outside (error messages) are code spans.
 * The URL is here as well as in the summary: only the first run has a summary (continue-as-new
 * cannot carry it), and a new URL reaches the details at once.
 */
export function detailsMarkdown(s: HttpSyncStatus): string {
  const p = s.progress;
  const avg = p.postCount ? `; average POST ${formatDuration(p.postMsTotal / p.postCount)}` : '';
  const mode = s.settings.mode === 'on_insert' ? `on insert, at least every ${s.settings.periodSeconds} s` : `every ${s.settings.periodSeconds} s`;
  const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
  const cursorNotes = [
    s.resetAt ? `reset to the start at ${time(s.resetAt)}` : '',
    s.restartedAt ? `restarted from PostgreSQL's cursor at ${time(s.restartedAt)}` : '',
  ].filter(Boolean);
  const lines = [
    `**State:** ${stateLine(s, mdCode)}`,
    `**URL:** ${s.maskedUrl ? mdCode(clip(s.maskedUrl, 160)) : '–'}`,
    `**Delivered:** ${plural(p.rowsDelivered, 'row')} in ${plural(p.pagesDelivered, 'page')} (${plural(p.syncs, 'sync')})${avg}`,
    `**Cursor:** \`${p.cursor.txid}/${p.cursor.seq}\`` + (cursorNotes.length ? ` (${cursorNotes.join('; ')})` : ''),
    `**Last success:** ${time(p.lastSuccessAt)}`,
    `**Last error:** ${p.lastError ? `${mdCode(clip(p.lastError, 300))} at ${time(p.lastErrorAt)} (${plural(p.errorCount, 'error')} in all)` : '–'}`,
    `**Next sync:** ${nextSync(s)}`,
    `**Settings:** ${mode}; pages of ${s.settings.pageSize} rows; POST timeout ${s.settings.timeoutSeconds} s`,
    ...(s.warnings ?? []).map((w) => `**Warning:** ${mdCode(clip(w, 400))}`),
  ];
  // A backslash at the end of a line is a hard line break in CommonMark (the UI's renderer).
  return forTemporalUi(lines.join('\\\n'));
}

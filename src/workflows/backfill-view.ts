import { formatDuration, utcTime } from '../text/format';
import type { BackfillStatus } from '../contract/backfill';
import { forTemporalUi, mdCode } from '../text/markdown';

/** What the Temporal UI shows of a backfill workflow (Markdown). */

const time = (iso?: string) => (iso ? utcTime(iso) : '–');
const plural = (n: number, one: string) => `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;

/** The summary of one fetchBackfillPages activity: it lists page after page from `firstPage` on, for its time budget. */
export function pagesSummary(firstPage: number, cursor?: string): string {
  return `list pages ${firstPage}…` + (cursor ? ` after ${cursor}` : ' from the start');
}

export function retryTimerSummary(waitMs: number, error: string): string {
  return `retry in ${formatDuration(waitMs)} after: ${error.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/** The state in one line; `quote` marks up outside text (verbatim in a terminal, a code span in Markdown). */
export function backfillStateLine(s: BackfillStatus, quote: (text: string) => string = (t) => t): string {
  switch (s.state) {
    case 'running':
      return `listing page ${s.pages + 1}`;
    case 'retrying':
      return s.retry
        ? `retrying after ${quote(s.retry.error)} since ${time(s.retry.since)}; attempt ${s.retry.attempts + 1} at ${time(s.retry.nextAttemptAt)}`
        : 'retrying';
    case 'done':
      return `done at ${time(s.finishedAt)}`;
    case 'failed':
      return `failed at ${time(s.finishedAt)}: ${quote(s.lastError ?? 'unknown error')}`;
  }
}

/** The current details: state, counts, cursor, times; one "label: value" line each (see httpsync-view's detailsMarkdown). */
export function backfillDetails(s: BackfillStatus): string {
  const lines = [
    `**State:** ${backfillStateLine(s, mdCode)}`,
    `**Listed:** ${plural(s.rows, 'row')} in ${plural(s.pages, 'page')}; ${plural(s.applied, 'row')} inserted or changed`,
    `**Cursor:** ${s.cursor ? mdCode(s.cursor) : 'the start'}`,
    `**From:** ${mdCode(s.apiBase)}`,
    `**Started:** ${time(s.startedAt)}` + (s.finishedAt ? `; **finished:** ${time(s.finishedAt)}` : ''),
    `**Last page:** ${time(s.lastPageAt)}`,
    ...(s.lastError && s.state !== 'failed' ? [`**Last error:** ${mdCode(s.lastError.slice(0, 300))}`] : []),
  ];
  return forTemporalUi(lines.join('\\\n'));
}

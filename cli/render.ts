import Table from 'cli-table3';
import type { TargetInfo } from '../src/services/target-info';
import type { TargetView } from '../src/services/target-view';
import { formatDuration, utcTime } from '../src/text/format';

export function scheduleSentence(t: Pick<TargetView, 'period_seconds' | 'mode' | 'integration_service' | 'table' | 'url'>): string {
  const when = t.mode === 'on_insert' ? `Whenever rows change (and at least every ${t.period_seconds} seconds)` : `Every ${t.period_seconds} seconds`;
  return `${when}, data from ${t.integration_service} in ${t.table} will be synchronized to ${t.url}`;
}

/** `2026-11-27 12:00:01 UTC (3 s ago)`, or `in 42 s` for a time to come. */
export function when(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const ms = Date.parse(iso) - now;
  const rel = Math.abs(ms) < 1000 ? 'now' : ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`;
  return `${utcTime(iso)} (${rel})`;
}

const count = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

function stateText(i: TargetInfo, now: number): string {
  if (i.workflow_unreachable) return `unknown: the workflow could not be asked (${i.workflow_unreachable.split('\n')[0]})`;
  if (i.state === 'not_running') {
    const was = i.workflow_status === 'NOT_FOUND' ? 'was never started' : `is ${(i.workflow_status ?? 'stopped').toLowerCase().replace(/_/g, ' ')}`;
    return `not running: its workflow ${was}; self-repair starts it again within a minute, or now with: hooksync httpsync restart ${i.id}`;
  }
  if (i.paused) return 'paused; resume with: hooksync httpsync resume ' + i.id;
  switch (i.state) {
    case 'waiting':
      return `waiting; next sync ${i.next_sync_at ? when(i.next_sync_at, now) : 'soon'}` + (i.mode === 'on_insert' ? ' or on new rows' : '');
    case 'delivering':
      return `delivering page ${i.pages_delivered + 1}`;
    case 'retrying':
      return i.retry
        ? `retrying since ${when(i.retry.since, now)} after: ${i.retry.error}; attempt ${i.retry.attempts + 1} at ${when(i.retry.nextAttemptAt, now)}`
        : 'retrying';
    default:
      return i.state;
  }
}

/** Rows waiting, how many an open transaction holds back, and (while rows wait) how old the oldest is. */
function backlogText(i: TargetInfo): string {
  if (i.rows_waiting === 0) return '0 rows waiting: up to date';
  return (
    `${count(i.rows_waiting, 'row')} waiting` +
    (i.rows_held_back ? ` (${i.rows_held_back.toLocaleString('en-US')} held back by open transactions)` : '')
  );
}

function lagText(i: TargetInfo): string {
  if (i.rows_waiting === 0 || i.lag_seconds === null) return 'none';
  return `${formatDuration(i.lag_seconds * 1000)}: the oldest waiting row changed that long ago`;
}

/** At the current rate, how long the backlog still takes; '' when nothing moves or nothing waits. */
export function etaText(rowsWaiting: number, rowsPerMinute: number | null): string {
  if (!rowsWaiting || !rowsPerMinute) return '';
  return `about ${formatDuration((rowsWaiting / rowsPerMinute) * 60_000)} to go at ${count(Math.round(rowsPerMinute), 'row')}/min`;
}

export interface RenderOptions {
  /** Terminal width: long values wrap to fit it. Without it (a pipe) nothing wraps. */
  width?: number;
  now?: number;
  /** Gray borders; default: only on a terminal, and not with NO_COLOR. */
  color?: boolean;
}

/** cli-table3 colors by $TERM, even into a pipe or a file: only a terminal gets colors. */
const useColor = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const plainStyle = { head: [], border: [] };

/**
 * The `info` / `status` view of one target: where it syncs, its state, progress (cursor, rows and
 * pages delivered, rows per minute, POST latency), errors, and what is still to be sent (backlog, lag).
 */
export function renderInfo(i: TargetInfo, opts: RenderOptions = {}): string {
  const now = opts.now ?? Date.now();
  const mode = i.mode === 'on_insert' ? `on insert, at least every ${i.period_seconds} s` : `every ${i.period_seconds} s`;
  const rows: Array<[string, string]> = [
    ['target', `${i.id} (Temporal workflow ${i.workflow_id})`],
    ['integration', `${i.integration_service} ${i.integration_id}, table ${i.table}`],
    ['url', i.url],
    ['mode', mode],
    ['page size / timeout', `${i.page_size} rows / ${i.timeout_seconds} s`],
    ['state', stateText(i, now)],
    ['cursor', `${i.cursor.txid}/${i.cursor.seq}`],
    ['delivered', `${count(i.rows_delivered, 'row')} in ${count(i.pages_delivered, 'page')}` + (i.syncs !== null ? `, ${count(i.syncs, 'sync')}` : '')],
    ['rows per minute', i.rows_per_minute === null ? '–' : `${i.rows_per_minute.toLocaleString('en-US')} (last minute)`],
    ['average POST', i.avg_post_ms === null ? '–' : `${formatDuration(i.avg_post_ms)}`],
    ['last success', when(i.last_success_at, now)],
    ['errors', i.error_count ? `${i.error_count.toLocaleString('en-US')}; last: ${i.last_error ?? '?'} at ${when(i.last_error_at, now)}` : '0'],
    ['backlog', backlogText(i) + (etaText(i.rows_waiting, i.rows_per_minute) ? `; ${etaText(i.rows_waiting, i.rows_per_minute)}` : '')],
    ['lag', lagText(i)],
  ];
  if (i.match !== null || i.fields !== null) rows.push(['filter', filterText(i)]);
  if (i.reset_at) rows.push(['reset', `from the start at ${when(i.reset_at, now)}; ${count(i.resets, 'reset')} in all`]);
  if (i.restarted_at) rows.push(['restarted', `${when(i.restarted_at, now)}` + (i.restart_reason ? `: ${i.restart_reason}` : '')]);
  for (const w of i.warnings) rows.push(['warning', w]);
  const keyWidth = Math.max(...rows.map(([k]) => k.length)) + 2;
  // Borders and padding take 7 columns; below 30 columns for values, wrapping would not help.
  const valueWidth = opts.width ? opts.width - keyWidth - 7 : undefined;
  const wrap = valueWidth !== undefined && valueWidth >= 30;
  const t = new Table({
    ...(wrap ? { colWidths: [keyWidth, valueWidth], wordWrap: true } : {}),
    ...((opts.color ?? useColor()) ? {} : { style: plainStyle }),
  });
  for (const [k, v] of rows) t.push({ [k]: v });
  return t.toString();
}

/** What a target's filter lets through, and from which cursor. */
function filterText(i: TargetInfo): string {
  const parts = [
    i.match === null ? 'every row' : `rows whose data contains ${JSON.stringify(i.match)}`,
    i.fields === null ? 'every field' : `fields ${[...new Set(['pk', ...i.fields])].join(', ')} (and the key, version time and deleted flag)`,
  ];
  if (i.match !== null) parts.push(i.unmatched === 'tombstone' ? 'a row that does not match comes as a key-only tombstone' : 'a row that does not match is left out');
  if (i.filter_since) parts.push(`since cursor ${i.filter_since.txid}/${i.filter_since.seq}`);
  return parts.join('; ');
}

export function renderTargets(all: TargetView[]): string {
  if (all.length === 0) return 'No HTTP Sync targets. Create one with: hooksync httpsync create <integrationId>';
  const t = new Table({ head: ['id', 'integration', 'table', 'url', 'mode', 'period', 'paused'], ...(useColor() ? {} : { style: plainStyle }) });
  for (const x of all) t.push([x.id, x.integration_id, x.table, x.url, x.mode, `${x.period_seconds} s`, x.paused ? 'yes' : 'no']);
  return t.toString();
}

import Table from 'cli-table3';
import type { TargetInfo, TargetView } from '../src/services/targets';
import { formatDuration } from '../src/workflows/httpsync-view';

export function scheduleSentence(t: Pick<TargetView, 'period_seconds' | 'mode' | 'integration_service' | 'table' | 'url'>): string {
  const when = t.mode === 'on_insert' ? `Whenever rows change (and at least every ${t.period_seconds} seconds)` : `Every ${t.period_seconds} seconds`;
  return `${when}, data from ${t.integration_service} in ${t.table} will be synchronized to ${t.url}`;
}

const ago = (iso: string | null) => (iso ? `${iso} (${formatDuration(Date.now() - Date.parse(iso))} ago)` : '–');

function stateText(i: TargetInfo): string {
  if (i.workflow_unreachable) return `unknown: the workflow could not be asked (${i.workflow_unreachable})`;
  switch (i.state) {
    case 'waiting':
      return `waiting; next sync ${i.next_sync_at ?? 'soon'}`;
    case 'delivering':
      return `delivering page ${i.pages_delivered + 1}`;
    case 'retrying':
      return i.retry ? `retrying since ${i.retry.since} after: ${i.retry.error} (next attempt ${i.retry.nextAttemptAt})` : 'retrying';
    default:
      return i.state;
  }
}

/** The `info` / `status` view: settings, progress, errors and backlog of one target. */
export function renderInfo(i: TargetInfo): string {
  const t = new Table();
  const rows: Array<[string, string]> = [
    ['target', `${i.id} (workflow ${i.workflow_id})`],
    ['integration', `${i.integration_service} ${i.integration_id}, table ${i.table}`],
    ['url', i.url],
    ['mode', i.mode === 'on_insert' ? `on insert, at least every ${i.period_seconds} s` : `every ${i.period_seconds} s`],
    ['page size / timeout', `${i.page_size} rows / ${i.timeout_seconds} s`],
    ['state', i.paused ? 'paused' : stateText(i)],
    ['cursor', `${i.cursor.txid}/${i.cursor.seq}`],
    ['delivered', `${i.rows_delivered} rows in ${i.pages_delivered} pages` + (i.syncs !== null ? `, ${i.syncs} syncs` : '')],
    ['rows per minute', i.rows_per_minute === null ? '–' : String(i.rows_per_minute)],
    ['average POST', i.avg_post_ms === null ? '–' : `${i.avg_post_ms} ms`],
    ['last success', ago(i.last_success_at)],
    ['errors', i.error_count ? `${i.error_count}; last: ${i.last_error} at ${i.last_error_at}` : '0'],
    [
      'backlog',
      `${i.rows_waiting} rows waiting` +
        (i.rows_held_back ? ` (${i.rows_held_back} held back by open transactions)` : '') +
        (i.lag_seconds !== null && i.rows_waiting > 0 ? `, oldest ${formatDuration(i.lag_seconds * 1000)} old` : ''),
    ],
  ];
  for (const [k, v] of rows) t.push({ [k]: v });
  return t.toString();
}

export function renderTargets(all: TargetView[]): string {
  if (all.length === 0) return 'No HTTP Sync targets. Create one with: hooksync httpsync create <integrationId>';
  const t = new Table({ head: ['id', 'integration', 'table', 'url', 'mode', 'period', 'paused'] });
  for (const x of all) t.push([x.id, x.integration_id, x.table, x.url, x.mode, `${x.period_seconds} s`, x.paused ? 'yes' : 'no']);
  return t.toString();
}

import { Command } from 'commander';
import type { Services } from '../../src/api/operations';
import type { BackfillStart, BackfillView } from '../../src/services/backfill';
import { formatDuration } from '../../src/text/format';
import { act } from '../context';
import { when } from '../render';
import { secretOption } from '../secret-input';

const count = (n: number, one: string) => `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;

/** The counts in one line: `3 pages, 250 rows listed; 240 inserted or changed`. */
export function backfillCounts(b: Pick<BackfillView, 'pages' | 'rows' | 'applied'>): string {
  return `${count(b.pages, 'page')}, ${count(b.rows, 'row')} listed; ${b.applied.toLocaleString('en-US')} inserted or changed`;
}

/** The `backfill` line of `integrations info`. */
export function backfillText(b: BackfillView, now = Date.now()): string {
  const span = b.started_at ? `started ${when(b.started_at, now)}` + (b.finished_at ? `, finished ${when(b.finished_at, now)}` : '') : '';
  switch (b.state) {
    case 'never':
      return `none yet; start one with: hooksync integrations backfill ${b.integration_id} --api-key …`;
    case 'unknown':
      return `unknown: Temporal could not be asked (${(b.workflow_unreachable ?? '').split('\n')[0]})`;
    case 'running':
      return `running: ${backfillCounts(b)} so far; ${span}`;
    case 'retrying':
      return `retrying after: ${b.retry?.error ?? b.last_error}; attempt ${(b.retry?.attempts ?? 0) + 1} at ${when(b.retry?.next_attempt_at, now)}\n${backfillCounts(b)} so far; ${span}`;
    case 'done':
      return `done: ${backfillCounts(b)}; ${span}`;
    case 'failed':
      return `failed: ${b.last_error}\n${backfillCounts(b)}; ${span}`;
    case 'stopped':
      return `stopped (workflow ${(b.workflow_status ?? '').toLowerCase()})` + (b.started_at ? `: ${backfillCounts(b)}; ${span}` : '');
  }
}

function finalText(b: BackfillView): string {
  const took = b.started_at && b.finished_at ? ` in ${formatDuration(Date.parse(b.finished_at) - Date.parse(b.started_at))}` : '';
  if (b.state === 'done') return `Backfill of ${b.integration_id} done${took}: ${backfillCounts(b)}.`;
  return `Backfill of ${b.integration_id} ${b.state}: ${b.last_error ?? b.workflow_status ?? ''}\n${backfillCounts(b)}.`;
}

/** How often `--wait` asks for the backfill's state, and how many unanswered asks in a row it bears. */
const WAIT_POLL_MS = 1_000;
const WAIT_UNKNOWN_MAX = 10;

/**
 * Until the backfill is over, by asking for its state (the same through the API as here): a
 * workflow that runs for hours needs no connection held open meanwhile.
 */
async function waitUntilOver(s: Services, id: string): Promise<BackfillView> {
  for (let unknown = 0; ; ) {
    const b = await s.call('getBackfill', { params: { id } });
    unknown = b.state === 'unknown' ? unknown + 1 : 0;
    if ((b.state !== 'running' && b.state !== 'retrying' && b.state !== 'unknown') || unknown >= WAIT_UNKNOWN_MAX) return b;
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

type BackfillOptions = { apiKey?: string; apiBase?: string; wait?: boolean; json?: boolean };

function startedText(result: BackfillStart, id: string, opts: BackfillOptions): string {
  if (opts.wait) return finalText(result);
  if (!result.started) {
    return `A backfill of ${id} is already running (${backfillCounts(result)} so far); not starting another. Follow it with: hooksync integrations info ${id}`;
  }
  return [
    `Backfill ${result.workflow_id} started: listing from ${result.api_base} into the table of ${id}.`,
    `Follow it with: hooksync integrations info ${id} (or in the Temporal UI), or wait for it with --wait.`,
  ].join('\n');
}

/** `integrations backfill <id>`: lists the upstream's resources into the integration's table. */
export function backfillCommand(): Command {
  return new Command('backfill')
    .description(
      "copy the rows that existed before the webhook was registered: pages through the upstream's list API (Stripe: GET /v1/customers) " +
        'in a Temporal workflow backfill-<id>, upserting each page like webhook events, so a listed row never replaces a newer webhook version. ' +
        'It resumes from its page cursor after a crash and waits out 429s (Retry-After). Progress: `hooksync integrations info <id>` or the Temporal UI. ' +
        'Run it again to list everything again; while one runs, another is not started.',
    )
    .argument('<id>', 'integration id (svi_…)')
    .option(
      '--api-key <key>',
      'the upstream API key to list with (Stripe: sk_live_… or a restricted rk_live_… key); `-` reads it from stdin (a terminal prompt shows nothing of it); ' +
        'HOOKSYNC_BACKFILL_API_KEY is read when it is left out; stored (as a secret) for later runs; without either, the stored one is used',
    )
    .option('--api-base <url>', "the upstream API's address (default: the upstream's own, e.g. https://api.stripe.com); checked like target URLs (HOOKSYNC_ALLOWED_TARGET_HOSTS)")
    .option('--wait', 'wait until the backfill is over and print its counts; exit code 1 if it failed')
    .option('--json', 'print JSON: {integration_id, workflow_id, state, started, pages, rows, applied, cursor, started_at, finished_at, …}')
    .action(
      act(
        async (s, [id], opts: BackfillOptions) => {
          const apiKey = await secretOption(opts.apiKey, { name: 'HOOKSYNC_BACKFILL_API_KEY', prompt: 'Upstream API key:', what: 'API key' });
          const start = await s.call('startBackfill', { params: { id: id! }, body: { api_key: apiKey, api_base: opts.apiBase } });
          if (!opts.wait) return start;
          if (!opts.json) {
            process.stderr.write(
              start.started ? `Backfill ${start.workflow_id} started from ${start.api_base}; waiting for it to finish…\n` : `A backfill of ${id} is already running (${backfillCounts(start)} so far); waiting for it to finish…\n`,
            );
          }
          const result = { ...(await waitUntilOver(s, id!)), started: start.started };
          if (result.state !== 'done') process.exitCode = 1;
          return result;
        },
        (result, opts) => startedText(result, result.integration_id, opts),
      ),
    );
}

import { Command, Option } from 'commander';
import type { Services } from '../../src/api/operations';
import { ServiceError } from '../../src/services/errors';
import { TARGET_DEFAULTS } from '../../src/services/targets';
import { type TargetView } from '../../src/services/target-view';
import { utcTime } from '../../src/text/format';
import type { SyncMode } from '../../src/contract/httpsync';
import { act, parseInteger } from '../context';
import { renderInfo, renderTargets, scheduleSentence } from '../render';
import { watchStatus } from '../watch';
import { secretOption } from '../secret-input';
import { addFilterOptions, filterBody, type FilterOptions } from '../filter-options';

const PROMPT = 'Enter the HTTP endpoint that hooksync should sync data to:';
const URL_HELP =
  'https://user:password@host/path (Basic Auth required); `-`, or left out, reads it from stdin (a terminal prompt shows nothing of it), ' +
  'unless HOOKSYNC_TARGET_URL holds it: a URL given here ends up in shell history and `ps`';

const targetUrl = (value: string | undefined, askWhenMissing: boolean) =>
  secretOption(value, { name: 'HOOKSYNC_TARGET_URL', prompt: PROMPT, what: 'URL', askWhenMissing });

const signingSecretLines = (secret: string) => [
  `Signing secret (shown only now; every POST carries webhook-id, webhook-timestamp and webhook-signature): ${secret}`,
  'Verify them at the receiver with the standardwebhooks package (see README).',
];

const json = () => new Option('--json', 'print JSON');
const ID = ['<id>', 'target id (hst_…)'] as const;

/** A command that sends one signal-like operation for a target and says what it did. */
function simple(name: string, description: string, operation: 'triggerTarget' | 'pauseTarget' | 'resumeTarget' | 'deleteTarget', done: (t: TargetView) => string) {
  return new Command(name)
    .description(description)
    .argument(...ID)
    .addOption(json())
    .action(act((s, [id]) => s.call(operation, { params: { id: id! } }), done));
}

const info = (s: Services, id: string) => s.call('getTarget', { params: { id } });

export function httpsyncCommand(): Command {
  const cmd = new Command('httpsync').description('deliver an integration\'s rows to your HTTPS endpoint, page by page, in order');

  const create = cmd
    .command('create')
    .description('create an HTTP Sync target; the host must be public (or listed in HOOKSYNC_ALLOWED_TARGET_HOSTS), and the endpoint is verified with an empty page first')
    .argument('<integrationId>', 'integration id (svi_…)')
    .option('--url <url>', URL_HELP)
    .option('--period <seconds>', 'seconds between syncs', parseInteger('period'), TARGET_DEFAULTS.periodSeconds)
    .option('--page-size <n>', 'rows per POST', parseInteger('page size'), TARGET_DEFAULTS.pageSize)
    .option('--timeout <seconds>', 'seconds to wait for each POST', parseInteger('timeout'), TARGET_DEFAULTS.timeoutSeconds)
    .option('--on-insert', 'also sync within a second or two of every change, not only every period');
  addFilterOptions(create)
    .addOption(new Option('--json', 'print JSON: the target, with its signing_secret (shown only this once)'))
    .action(
      act(
        async (s, [integrationId], opts: { url?: string; period: number; pageSize: number; timeout: number; onInsert?: boolean } & FilterOptions) => {
          const filter = filterBody(opts);
          // Read (from stdin, a prompt or the environment) before anything is sent.
          const url = (await targetUrl(opts.url, true))!;
          return s.call('createTarget', {
            body: {
              integration_id: integrationId!,
              url,
              period_seconds: opts.period,
              page_size: opts.pageSize,
              timeout_seconds: opts.timeout,
              mode: opts.onInsert ? 'on_insert' : 'interval',
              ...filter,
            },
          });
        },
        (t) =>
          [
            scheduleSentence(t),
            `Target ${t.id} is running as Temporal workflow ${t.workflow_id}.`,
            ...signingSecretLines(t.signing_secret),
            `Watch it with: hooksync httpsync status ${t.id} --watch`,
          ].join('\n'),
      ),
    );

  cmd
    .command('list')
    .description('list HTTP Sync targets')
    .option('--integration <id>', 'only the targets of this integration')
    .addOption(json())
    .action(act(async (s, _, opts: { integration?: string }) => (await s.call('listTargets', { query: { integration_id: opts.integration } })).targets, renderTargets));

  cmd
    .command('info')
    .description('settings, progress (cursor, rows and pages delivered, latency, throughput), errors and backlog of a target')
    .argument(...ID)
    .addOption(json())
    .action(act((s, [id]) => info(s, id!), (i) => renderInfo(i)));

  cmd
    .command('status')
    .description('like info; with --watch, redraws until Ctrl-C, with a progress bar while a backlog drains')
    .argument(...ID)
    .option('--watch', 'redraw until Ctrl-C')
    .option('--interval <seconds>', 'seconds between redraws', parseInteger('interval'), 1)
    .addOption(json())
    .action(
      act(
        async (s, [id], opts: { watch?: boolean; interval: number; json?: boolean }) => {
          if (!opts.watch || opts.json) return info(s, id!);
          await watchStatus(s, id!, opts.interval);
          return undefined;
        },
        (i) => renderInfo(i),
      ),
    );

  const update = cmd
    .command('update')
    .description('change a target\'s settings, filter or credentials; the running workflow picks them up without a restart (a new filter applies from the cursor at that moment)')
    .argument(...ID)
    .option('--url <url>', `new ${URL_HELP}; left out, only when nothing else is changed (verified with an empty page first)`)
    .option('--period <seconds>', 'seconds between syncs', parseInteger('period'))
    .option('--page-size <n>', 'rows per POST', parseInteger('page size'))
    .option('--timeout <seconds>', 'seconds to wait for each POST', parseInteger('timeout'))
    .addOption(new Option('--mode <mode>', 'interval, or on_insert (also sync on every change)').choices(['interval', 'on_insert']));
  addFilterOptions(update)
    .addOption(json())
    .action(
      act(
        async (s, [id], opts: { url?: string; period?: number; pageSize?: number; timeout?: number; mode?: SyncMode } & FilterOptions) => {
          const nothingElse = [opts.period, opts.pageSize, opts.timeout, opts.mode, opts.match, opts.fields, opts.unmatched].every((v) => v === undefined);
          const filter = filterBody(opts);
          const url = await targetUrl(opts.url, nothingElse);
          return s.call('updateTarget', {
            params: { id: id! },
            body: { url, period_seconds: opts.period, page_size: opts.pageSize, timeout_seconds: opts.timeout, mode: opts.mode, ...filter },
          });
        },
        (t) => `Updated ${t.id}. ${scheduleSentence(t)}`,
      ),
    );

  cmd.addCommand(simple('trigger', 'sync now (a `trigger` signal to the target\'s workflow)', 'triggerTarget', (t) => `Triggered a sync of ${t.id}.`));
  cmd.addCommand(simple('pause', 'stop delivering until resumed; rows keep collecting', 'pauseTarget', (t) => `Paused ${t.id}.`));
  cmd.addCommand(simple('resume', 'resume delivering, starting with what collected meanwhile', 'resumeTarget', (t) => `Resumed ${t.id}; it syncs now.`));
  cmd
    .command('restart')
    .description('start the target\'s workflow again from the cursor PostgreSQL holds (self-repair does so within a minute for one that is not running); a running one is replaced')
    .argument(...ID)
    .addOption(json())
    .action(
      act(
        (s, [id]) => s.call('restartTarget', { params: { id: id! } }),
        (r) => {
          const was = r.was === 'NOT_FOUND' ? 'had never been started' : r.was === 'RUNNING' ? 'was running: replaced' : `was ${r.was.toLowerCase().replace(/_/g, ' ')}`;
          return `Started the workflow of ${r.id} again from cursor ${r.cursor.txid}/${r.cursor.seq} (it ${was}); nothing is skipped, and a page whose 2xx was not yet recorded (or in flight) may be sent again, under the same id.`;
        },
      ),
    );

  cmd
    .command('rotate-signing-secret')
    .description('give a target a new signing secret, shown once; for 24 hours the old one signs too (two signatures in webhook-signature), then it is dropped')
    .argument(...ID)
    .addOption(new Option('--json', 'print JSON: the target with signing_secret and previous_secret_expires_at'))
    .action(
      act(
        (s, [id]) => s.call('rotateSigningSecret', { params: { id: id! } }),
        (r) =>
          [
            `New signing secret of ${r.id} (shown only now): ${r.signing_secret}`,
            r.previous_secret_expires_at
              ? `Until ${utcTime(r.previous_secret_expires_at)} the previous secret signs too, so receivers verifying with either accept every POST; then only the new one does.`
              : 'It signs every POST from now on.',
          ].join('\n'),
      ),
    );

  cmd
    .command('reset')
    .description('deliver every row again from the beginning, in order, paging as usual (a receiver that lost its data, or a new receiver at the same URL)')
    .argument(...ID)
    .option('--from-start', 'required: the cursor goes back to the start of the table')
    .addOption(json())
    .action(
      act(
        (s, [id], opts: { fromStart?: boolean }) => {
          if (!opts.fromStart) throw new ServiceError('invalid', 'say where to reset to: --from-start (every row is delivered again)');
          return s.call('resetTarget', { params: { id: id! }, body: { from_start: true } });
        },
        (r) =>
          `Reset ${r.id} at ${utcTime(r.reset_at)}: every row of ${r.table} is delivered again from the start, in order, to ${r.url}.` +
          (r.workflow_told ? '' : ' (Its workflow could not be told now: it starts over at its next sync.)'),
      ),
    );

  cmd.addCommand(simple('delete', 'delete a target: no new POST is sent to it (one already in flight may still land)', 'deleteTarget', (t) => `Deleted ${t.id}; no new POST is sent to ${t.url} (one already in flight may still land).`));
  return cmd;
}

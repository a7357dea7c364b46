import { Command, Option } from 'commander';
import {
  createTarget,
  deleteTarget,
  listTargetViews,
  resetTarget,
  restartTarget,
  rotateSigningSecret,
  setPaused,
  TARGET_DEFAULTS,
  targetInfo,
  triggerTarget,
  updateTarget,
  type TargetView,
} from '../../src/services/targets';
import type { ServiceDeps } from '../../src/services/deps';
import { ServiceError } from '../../src/services/errors';
import { utcTime } from '../../src/text/format';
import type { SyncMode } from '../../src/workflows/types';
import { fail, output, parseInteger, withServices } from '../context';
import { renderInfo, renderTargets, scheduleSentence } from '../render';
import { watchStatus } from '../watch';
import { secretOption } from '../secret-input';

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

function simple(name: string, description: string, run: (deps: ServiceDeps, id: string) => Promise<TargetView>, done: (t: TargetView) => string) {
  return new Command(name)
    .description(description)
    .argument('<id>', 'target id (hst_…)')
    .addOption(json())
    .action(async (id: string, opts: { json?: boolean }) => {
      try {
        const t = await withServices((deps) => run(deps, id));
        output(opts, t, () => done(t));
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
}

export function httpsyncCommand(): Command {
  const cmd = new Command('httpsync').description('deliver an integration\'s rows to your HTTPS endpoint, page by page, in order');

  cmd
    .command('create')
    .description('create an HTTP Sync target; the host must be public (or listed in HOOKSYNC_ALLOWED_TARGET_HOSTS), and the endpoint is verified with an empty page first')
    .argument('<integrationId>', 'integration id (svi_…)')
    .option('--url <url>', URL_HELP)
    .option('--period <seconds>', 'seconds between syncs', parseInteger('period'), TARGET_DEFAULTS.periodSeconds)
    .option('--page-size <n>', 'rows per POST', parseInteger('page size'), TARGET_DEFAULTS.pageSize)
    .option('--timeout <seconds>', 'seconds to wait for each POST', parseInteger('timeout'), TARGET_DEFAULTS.timeoutSeconds)
    .option('--on-insert', 'also sync within a second or two of every change, not only every period')
    .addOption(new Option('--json', 'print JSON: the target, with its signing_secret (shown only this once)'))
    .action(async (integrationId: string, opts: { url?: string; period: number; pageSize: number; timeout: number; onInsert?: boolean; json?: boolean }) => {
      try {
        const url = (await targetUrl(opts.url, true))!;
        const t = await withServices((deps) =>
          createTarget(deps, integrationId, {
            url,
            periodSeconds: opts.period,
            pageSize: opts.pageSize,
            timeoutSeconds: opts.timeout,
            mode: opts.onInsert ? 'on_insert' : 'interval',
          }),
        );
        output(opts, t, () =>
          [
            scheduleSentence(t),
            `Target ${t.id} is running as Temporal workflow ${t.workflow_id}.`,
            ...signingSecretLines(t.signing_secret),
            `Watch it with: hooksync httpsync status ${t.id} --watch`,
          ].join('\n'),
        );
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('list')
    .description('list HTTP Sync targets')
    .option('--integration <id>', 'only the targets of this integration')
    .addOption(json())
    .action(async (opts: { integration?: string; json?: boolean }) => {
      try {
        const all = await withServices((deps) => listTargetViews(deps, opts.integration));
        output(opts, all, () => renderTargets(all));
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('info')
    .description('settings, progress (cursor, rows and pages delivered, latency, throughput), errors and backlog of a target')
    .argument('<id>', 'target id (hst_…)')
    .addOption(json())
    .action(async (id: string, opts: { json?: boolean }) => {
      try {
        const info = await withServices((deps) => targetInfo(deps, id));
        output(opts, info, () => renderInfo(info));
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('status')
    .description('like info; with --watch, redraws until Ctrl-C, with a progress bar while a backlog drains')
    .argument('<id>', 'target id (hst_…)')
    .option('--watch', 'redraw until Ctrl-C')
    .option('--interval <seconds>', 'seconds between redraws', parseInteger('interval'), 1)
    .addOption(json())
    .action(async (id: string, opts: { watch?: boolean; interval: number; json?: boolean }) => {
      try {
        if (opts.watch && !opts.json) return await withServices((deps) => watchStatus(deps, id, opts.interval));
        const info = await withServices((deps) => targetInfo(deps, id));
        output(opts, info, () => renderInfo(info));
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('update')
    .description('change a target\'s settings or credentials; the running workflow picks them up without a restart')
    .argument('<id>', 'target id (hst_…)')
    .option('--url <url>', `new ${URL_HELP}; left out, only when nothing else is changed (verified with an empty page first)`)
    .option('--period <seconds>', 'seconds between syncs', parseInteger('period'))
    .option('--page-size <n>', 'rows per POST', parseInteger('page size'))
    .option('--timeout <seconds>', 'seconds to wait for each POST', parseInteger('timeout'))
    .addOption(new Option('--mode <mode>', 'interval, or on_insert (also sync on every change)').choices(['interval', 'on_insert']))
    .addOption(json())
    .action(async (id: string, opts: { url?: string; period?: number; pageSize?: number; timeout?: number; mode?: SyncMode; json?: boolean }) => {
      try {
        const nothingElse = [opts.period, opts.pageSize, opts.timeout, opts.mode].every((v) => v === undefined);
        const url = await targetUrl(opts.url, nothingElse);
        const t = await withServices((deps) =>
          updateTarget(deps, id, { url, periodSeconds: opts.period, pageSize: opts.pageSize, timeoutSeconds: opts.timeout, mode: opts.mode }),
        );
        output(opts, t, () => `Updated ${t.id}. ${scheduleSentence(t)}`);
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd.addCommand(simple('trigger', 'sync now (a `trigger` signal to the target\'s workflow)', triggerTarget, (t) => `Triggered a sync of ${t.id}.`));
  cmd.addCommand(simple('pause', 'stop delivering until resumed; rows keep collecting', (d, id) => setPaused(d, id, true), (t) => `Paused ${t.id}.`));
  cmd.addCommand(simple('resume', 'resume delivering, starting with what collected meanwhile', (d, id) => setPaused(d, id, false), (t) => `Resumed ${t.id}; it syncs now.`));
  cmd
    .command('restart')
    .description('start the target\'s workflow again from the cursor PostgreSQL holds (self-repair does so within a minute for one that is not running); a running one is replaced')
    .argument('<id>', 'target id (hst_…)')
    .addOption(json())
    .action(async (id: string, opts: { json?: boolean }) => {
      try {
        const r = await withServices((deps) => restartTarget(deps, id));
        const was = r.was === 'NOT_FOUND' ? 'had never been started' : r.was === 'RUNNING' ? 'was running: replaced' : `was ${r.was.toLowerCase().replace(/_/g, ' ')}`;
        output(opts, r, () => `Started the workflow of ${r.id} again from cursor ${r.cursor.txid}/${r.cursor.seq} (it ${was}); nothing delivered is sent again, nothing is skipped.`);
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('rotate-signing-secret')
    .description('give a target a new signing secret, shown once; for 24 hours the old one signs too (two signatures in webhook-signature), then it is dropped')
    .argument('<id>', 'target id (hst_…)')
    .addOption(new Option('--json', 'print JSON: the target with signing_secret and previous_secret_expires_at'))
    .action(async (id: string, opts: { json?: boolean }) => {
      try {
        const r = await withServices((deps) => rotateSigningSecret(deps, id));
        output(opts, r, () =>
          [
            `New signing secret of ${r.id} (shown only now): ${r.signing_secret}`,
            r.previous_secret_expires_at
              ? `Until ${utcTime(r.previous_secret_expires_at)} the previous secret signs too, so receivers verifying with either accept every POST; then only the new one does.`
              : 'It signs every POST from now on.',
          ].join('\n'),
        );
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('reset')
    .description('deliver every row again from the beginning, in order, paging as usual (a receiver that lost its data, or a new receiver at the same URL)')
    .argument('<id>', 'target id (hst_…)')
    .option('--from-start', 'required: the cursor goes back to the start of the table')
    .addOption(json())
    .action(async (id: string, opts: { fromStart?: boolean; json?: boolean }) => {
      try {
        if (!opts.fromStart) throw new ServiceError('invalid', 'say where to reset to: --from-start (every row is delivered again)');
        const r = await withServices((deps) => resetTarget(deps, id));
        output(opts, r, () =>
          `Reset ${r.id} at ${utcTime(r.reset_at)}: every row of ${r.table} is delivered again from the start, in order, to ${r.url}.` +
          (r.workflow_told ? '' : ' (Its workflow could not be told now: it starts over at its next sync.)'),
        );
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd.addCommand(simple('delete', 'delete a target: nothing more is sent to it', deleteTarget, (t) => `Deleted ${t.id}; nothing more is sent to ${t.url}.`));
  return cmd;
}

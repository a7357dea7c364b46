import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { findDescriptor, serviceNames } from '../../src/integrations';
import { backfillStatus } from '../../src/services/backfill';
import { createIntegration, integrationInfo, listIntegrations, RATE_LIMIT_MAX, retryFailed, updateIntegration } from '../../src/services/integrations';
import { formatDuration, utcTime } from '../../src/text/format';
import { fail, output, parseInteger, withServices } from '../context';
import { when } from '../render';
import { backfillCommand, backfillText } from './integrations-backfill';
import { integrationDeleteCommand } from './integrations-delete';
import { secretOption } from '../secret-input';

const SECRET_HELP =
  'the upstream signing secret (Stripe: whsec_…); `-` reads it from stdin (a terminal prompt shows nothing of it); ' +
  'HOOKSYNC_WEBHOOK_SECRET is read when it is left out: a secret given here ends up in shell history and `ps`';

const webhookSecret = (value: string | undefined) =>
  secretOption(value, { name: 'HOOKSYNC_WEBHOOK_SECRET', prompt: 'Webhook signing secret:', what: 'webhook secret' });

/** `--rate-limit`: events per second; 0 (also for off: commander turns null into '') removes the limit. */
export function parseRateLimit(value: string): number {
  const v = value.trim().toLowerCase();
  if (v === 'off' || v === 'none') return 0;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError(`expected a number of events per second, or 0 / off to remove the limit; got "${value}"`);
  const n = Number(v);
  if (n > RATE_LIMIT_MAX) throw new InvalidArgumentError(`at most ${RATE_LIMIT_MAX} events per second`);
  return n;
}

export function integrationsCommand(): Command {
  const cmd = new Command('integrations').description('create, list, inspect and delete integrations (an upstream resource, e.g. Stripe customers or GitHub issues, and its table)');

  cmd
    .command('create')
    .description(`create an integration and its table; prints the webhook URL to register upstream (available: ${serviceNames().join(', ')})`)
    .argument('<service>', 'integration name, e.g. stripe_customer_v1')
    .option('--webhook-secret <secret>', `${SECRET_HELP}; can be set later with \`integrations update\``)
    .option('--remote-key <pointer>', 'standard_webhooks_v1: RFC 6901 JSON pointer to the resource\'s key in each payload, e.g. /data/id')
    .option('--timestamp <pointer>', 'standard_webhooks_v1: JSON pointer to the version time (ISO-8601 string or Unix seconds), e.g. /data/updated_at')
    .option('--deleted <pointer>', 'standard_webhooks_v1, optional: JSON pointer to a boolean that is true when the resource was deleted')
    .option('--json', 'print JSON: {id, service, table, webhook_url}')
    .addHelpText(
      'after',
      `
Examples:
  hooksync integrations create stripe_customer_v1 --webhook-secret whsec_…
  hooksync integrations create github_issue_v1 --webhook-secret "$SECRET"
  hooksync integrations create standard_webhooks_v1 --webhook-secret whsec_… --remote-key /data/id --timestamp /data/updated_at`,
    )
    .action(async (service: string, opts: { webhookSecret?: string; remoteKey?: string; timestamp?: string; deleted?: string; json?: boolean }) => {
      try {
        const secret = await webhookSecret(opts.webhookSecret);
        const options = { remote_key: opts.remoteKey, timestamp: opts.timestamp, deleted: opts.deleted };
        const created = await withServices((deps) => createIntegration(deps, { service, webhookSecret: secret, options }));
        const d = findDescriptor(created.service)!;
        output(opts, { id: created.id, service: created.service, table: created.table, webhook_url: created.webhook_url }, () =>
          [
            `Created ${created.service} integration ${created.id} with table ${created.table}.`,
            '',
            `Webhook URL: ${created.webhook_url}`,
            '',
            'Next:',
            ...d.setupSteps(created.webhook_url, created.id).map((s, i) => `  ${i + 1}. ${s}`),
            ...(created.has_webhook_secret ? ['', 'The webhook secret is set; events are accepted now.'] : []),
          ].join('\n'),
        );
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('update')
    .description('set the webhook signing secret (Stripe shows it once the endpoint is registered) or the rate limit of an integration')
    .argument('<id>', 'integration id (svi_…)')
    .option('--webhook-secret <secret>', SECRET_HELP)
    .option(
      '--rate-limit <events per second>',
      'accept at most this many events per second (each API process on its own; 429 with Retry-After past it); 0 or off removes the limit',
      parseRateLimit,
    )
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { webhookSecret?: string; rateLimit?: number; json?: boolean }) => {
      try {
        const secret = await webhookSecret(opts.webhookSecret);
        if (secret === undefined && opts.rateLimit === undefined) throw new Error('give --webhook-secret or --rate-limit (the secret also through HOOKSYNC_WEBHOOK_SECRET; see --help)');
        const updated = await withServices((deps) => updateIntegration(deps, id, { webhookSecret: secret, rateLimitPerSecond: opts.rateLimit }));
        output(opts, updated, () =>
          [
            ...(secret !== undefined ? [`Webhook secret of ${updated.id} updated; events signed with it are accepted at ${updated.webhook_url}`] : []),
            ...(opts.rateLimit !== undefined
              ? [
                  updated.rate_limit_per_second === null
                    ? `Rate limit of ${updated.id} removed.`
                    : `Rate limit of ${updated.id}: ${updated.rate_limit_per_second} events per second per API process; more get 429 and are sent again by the upstream. Takes effect within 5 s.`,
                ]
              : []),
          ].join('\n'),
        );
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('list')
    .description('list integrations: service, table, events accepted (and how many changed a row), the last event\'s time, secret, rate limit and webhook URL')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      try {
        const all = await withServices((deps) => listIntegrations(deps));
        output(opts, all, () => {
          if (all.length === 0) return 'No integrations yet. Create one with: hooksync integrations create stripe_customer_v1';
          const table = new Table({ head: ['id', 'service', 'table', 'events', 'last event', 'secret', 'rate limit', 'webhook URL'] });
          for (const i of all) {
            table.push([
              i.id,
              i.service,
              i.table,
              eventsText(i),
              i.last_event_at ? utcTime(i.last_event_at) : '–',
              i.has_webhook_secret ? 'set' : 'missing',
              i.rate_limit_per_second === null ? '–' : `${i.rate_limit_per_second}/s`,
              i.webhook_url,
            ]);
          }
          return table.toString();
        });
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
  cmd
    .command('info')
    .description('show an integration: its service, table (and its rows), events accepted and the last one\'s time, webhook URL, the events waiting in its inbox (and the age of the oldest), its dead letters and its last backfill')
    .argument('<id>', 'integration id (svi_…)')
    .option('--json', 'print JSON: the fields of `list` plus rows, rows_deleted, inbox_waiting, inbox_oldest_age_seconds, dead_letters, last_dead_letter_error, last_dead_letter_at, backfill')
    .action(async (id: string, opts: { json?: boolean }) => {
      try {
        const info = await withServices(async (deps) => {
          const base = await integrationInfo(deps, id);
          return { ...base, backfill: await backfillStatus(deps, id) };
        });
        output(opts, info, () => {
          const rows: Array<[string, string]> = [
            ['integration', `${info.id} (${info.service})`],
            [
              'table',
              info.rows === null
                ? `${info.table}: rows not counted (the table is locked, or too large to count within seconds)`
                : `${info.table}: ${info.rows.toLocaleString('en-US')} row${info.rows === 1 ? '' : 's'}` + (info.rows_deleted ? ` (${info.rows_deleted.toLocaleString('en-US')} deleted upstream)` : ''),
            ],
            ['events', `${eventsText(info)}; last ${when(info.last_event_at)}`],
            ...(Object.keys(info.config).length ? ([['settings', Object.entries(info.config).map(([k, v]) => `${k}: ${String(v)}`).join(', ')]] as Array<[string, string]>) : []),
            ['webhook URL', info.webhook_url],
            ['webhook secret', info.has_webhook_secret ? 'set' : 'missing: set it with `hooksync integrations update ' + info.id + ' --webhook-secret -`'],
            [
              'inbox',
              info.inbox_waiting === 0
                ? 'empty: every accepted event is applied'
                : `${info.inbox_waiting.toLocaleString('en-US')} event${info.inbox_waiting === 1 ? '' : 's'} waiting, the oldest for ${formatDuration((info.inbox_oldest_age_seconds ?? 0) * 1000)}`,
            ],
            [
              'dead letters',
              info.dead_letters === 0
                ? '0'
                : `${info.dead_letters.toLocaleString('en-US')}; last at ${when(info.last_dead_letter_at)}: ${info.last_dead_letter_error}\n` +
                  `apply them again with: hooksync integrations retry-failed ${info.id}`,
            ],
            ['backfill', backfillText(info.backfill)],
          ];
          const table = new Table({ style: { head: [], border: [] } });
          for (const [k, v] of rows) table.push({ [k]: v });
          return table.toString();
        });
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });

  cmd
    .command('retry-failed')
    .description('apply the dead letters of an integration again (events the database refused, e.g. before a constraint was fixed): they go back into the inbox, and what is refused again returns with its error')
    .argument('<id>', 'integration id (svi_…)')
    .option('--wait <seconds>', 'how long to wait for the outcome', parseInteger('--wait'), 30)
    .option('--json', 'print JSON: {id, requeued, done, failed_again, waiting, woken}')
    .action(async (id: string, opts: { wait: number; json?: boolean }) => {
      try {
        const r = await withServices((deps) => retryFailed(deps, id, { waitMs: opts.wait * 1000 }));
        output(opts, r, () => {
          if (r.requeued === 0) return `${r.id} has no dead letters.`;
          const lines = [`Put ${r.requeued} dead letter${r.requeued === 1 ? '' : 's'} of ${r.id} back into the inbox: ${r.done} applied, ${r.failed_again} refused again, ${r.waiting} still waiting.`];
          if (r.failed_again) lines.push(`See why with: hooksync integrations info ${r.id}`);
          if (r.waiting && !r.woken) lines.push('Temporal could not be reached; a running worker applies them within seconds.');
          else if (r.waiting) lines.push('Is a worker running? The events wait in the inbox until one applies them.');
          return lines.join('\n');
        });
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
  cmd.addCommand(backfillCommand());
  cmd.addCommand(integrationDeleteCommand());
  return cmd;
}

/** `1,234 (1,200 changed a row)`. */
function eventsText(i: { events_received: number; events_applied: number }): string {
  if (i.events_received === 0) return 'none yet';
  return `${i.events_received.toLocaleString('en-US')} (${i.events_applied.toLocaleString('en-US')} changed a row)`;
}

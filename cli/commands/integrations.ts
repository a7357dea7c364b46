import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { findDescriptor, serviceNames } from '../../src/integrations';
import type { IntegrationInfo, IntegrationView } from '../../src/services/integrations';
import type { RetryFailedResult } from '../../src/services/integration-retry';
import { RATE_LIMIT_MAX, RETRY_WAIT_MAX_SECONDS } from '../../src/services/integrations';
import type { BackfillView } from '../../src/services/backfill';
import { formatDuration, utcTime } from '../../src/text/format';
import { act, parseInteger } from '../context';
import { when } from '../render';
import { backfillCommand, backfillText } from './integrations-backfill';
import { integrationDeleteCommand } from './integrations-delete';
import { sendTestEventCommand } from './integrations-test-event';
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

function created(i: IntegrationView): string {
  // The setup steps are this build's; an API running a newer one may know services this one does not.
  const steps = findDescriptor(i.service)?.setupSteps(i.webhook_url, i.id) ?? [];
  return [
    `Created ${i.service} integration ${i.id} with table ${i.table}.`,
    '',
    `Webhook URL: ${i.webhook_url}`,
    ...(steps.length ? ['', 'Next:', ...steps.map((s, n) => `  ${n + 1}. ${s}`)] : []),
    ...(i.has_webhook_secret ? ['', 'The webhook secret is set; events are accepted now.'] : []),
  ].join('\n');
}

function updated(i: IntegrationView, opts: { secretGiven?: boolean; rateLimit?: number }): string {
  const lines: string[] = [];
  if (opts.secretGiven) lines.push(`Webhook secret of ${i.id} updated; events signed with it are accepted at ${i.webhook_url}`);
  if (opts.rateLimit !== undefined) {
    lines.push(
      i.rate_limit_per_second === null
        ? `Rate limit of ${i.id} removed.`
        : `Rate limit of ${i.id}: ${i.rate_limit_per_second} events per second per API process; more get 429 and are sent again by the upstream. Takes effect within 5 s.`,
    );
  }
  return lines.join('\n');
}

function listed(all: IntegrationView[]): string {
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
}

function info(i: IntegrationInfo & { backfill: BackfillView }): string {
  const rows: Array<[string, string]> = [
    ['integration', `${i.id} (${i.service})`],
    [
      'table',
      i.rows === null
        ? `${i.table}: rows not counted (the table is locked, or too large to count within seconds)`
        : `${i.table}: ${i.rows.toLocaleString('en-US')} row${i.rows === 1 ? '' : 's'}` + (i.rows_deleted ? ` (${i.rows_deleted.toLocaleString('en-US')} deleted upstream)` : ''),
    ],
    ['events', `${eventsText(i)}; last ${when(i.last_event_at)}`],
    ...(Object.keys(i.config).length ? ([['settings', Object.entries(i.config).map(([k, v]) => `${k}: ${String(v)}`).join(', ')]] as Array<[string, string]>) : []),
    ['webhook URL', i.webhook_url],
    ['webhook secret', i.has_webhook_secret ? 'set' : 'missing: set it with `hooksync integrations update ' + i.id + ' --webhook-secret -`'],
    [
      'inbox',
      i.inbox_waiting === 0
        ? 'empty: every accepted event is applied'
        : `${i.inbox_waiting.toLocaleString('en-US')} event${i.inbox_waiting === 1 ? '' : 's'} waiting, the oldest for ${formatDuration((i.inbox_oldest_age_seconds ?? 0) * 1000)}`,
    ],
    [
      'dead letters',
      i.dead_letters === 0
        ? '0'
        : `${i.dead_letters.toLocaleString('en-US')}; last at ${when(i.last_dead_letter_at)}: ${i.last_dead_letter_error}\n` +
          `apply them again with: hooksync integrations retry-failed ${i.id}`,
    ],
    ['backfill', backfillText(i.backfill)],
  ];
  const table = new Table({ style: { head: [], border: [] } });
  for (const [k, v] of rows) table.push({ [k]: v });
  return table.toString();
}

function retried(r: RetryFailedResult): string {
  if (r.requeued === 0) return `${r.id} has no dead letters.`;
  const lines = [`Put ${r.requeued} dead letter${r.requeued === 1 ? '' : 's'} of ${r.id} back into the inbox: ${r.done} applied, ${r.failed_again} refused again, ${r.waiting} still waiting.`];
  if (r.failed_again) lines.push(`See why with: hooksync integrations info ${r.id}`);
  if (r.waiting && !r.woken) lines.push('Temporal could not be reached; a running worker applies them within seconds.');
  else if (r.waiting) lines.push('Is a worker running? The events wait in the inbox until one applies them.');
  return lines.join('\n');
}

const ID = ['<id>', 'integration id (svi_…)'] as const;

/** `integrations create`'s options; each setting's API name is its option's in snake case (--signature-header: signature_header). */
interface CreateOptions {
  webhookSecret?: string;
  json?: boolean;
  remoteKey?: string;
  timestamp?: string;
  deleted?: string;
  preset?: string;
  signatureHeader?: string;
  algorithm?: string;
  encoding?: string;
  signaturePrefix?: string;
  signedPayload?: string;
  timestampHeader?: string;
  tolerance?: number;
}

export function integrationsCommand(): Command {
  const cmd = new Command('integrations').description('create, list, inspect and delete integrations (an upstream resource, e.g. Stripe customers or GitHub issues, and its table)');

  cmd
    .command('create')
    .description(`create an integration and its table; prints the webhook URL to register upstream (available: ${serviceNames().join(', ')})`)
    .argument('<service>', 'integration name, e.g. stripe_customer_v1')
    .option('--webhook-secret <secret>', `${SECRET_HELP}; can be set later with \`integrations update\``)
    .option('--remote-key <pointer>', 'standard_webhooks_v1, hmac_v1: RFC 6901 JSON pointer to the resource\'s key in each payload, e.g. /data/id')
    .option('--timestamp <pointer>', 'standard_webhooks_v1, hmac_v1: JSON pointer to the version time (ISO-8601 string or Unix seconds), e.g. /data/updated_at')
    .option('--deleted <rule>', 'standard_webhooks_v1, hmac_v1, optional: JSON pointer to a boolean that is true when the resource was deleted; hmac_v1 also POINTER=VALUE, e.g. /action=remove')
    .option('--preset <name>', 'hmac_v1: shopify, linear, intercom or zendesk (the options below override its settings)')
    .option('--signature-header <name>', 'hmac_v1: the header carrying the signature, e.g. X-Signature')
    .option('--algorithm <name>', 'hmac_v1: sha256 (default), sha1 or sha512')
    .option('--encoding <name>', 'hmac_v1: hex (default) or base64')
    .option('--signature-prefix <text>', 'hmac_v1: text before the digest in the header, e.g. sha256=')
    .option('--signed-payload <template>', 'hmac_v1: what is signed: {body} (default), or e.g. {timestamp}{body}, v0:{timestamp}:{body}')
    .option('--timestamp-header <name>', 'hmac_v1: the header whose value fills {timestamp} (Unix seconds or ISO-8601)')
    .option('--tolerance <seconds>', 'hmac_v1: how far a signature timestamp may be from now (default 300)', parseInteger('--tolerance'))
    .option('--json', 'print JSON: {id, service, table, webhook_url}')
    .addHelpText(
      'after',
      `
Examples:
  hooksync integrations create stripe_customer_v1 --webhook-secret whsec_…
  hooksync integrations create github_issue_v1 --webhook-secret "$SECRET"
  hooksync integrations create standard_webhooks_v1 --webhook-secret whsec_… --remote-key /data/id --timestamp /data/updated_at
  hooksync integrations create hmac_v1 --preset shopify --webhook-secret -
  hooksync integrations create hmac_v1 --webhook-secret - --signature-header X-Signature --signature-prefix sha256= \\
    --signed-payload 'v0:{timestamp}:{body}' --timestamp-header X-Timestamp --remote-key /data/id --timestamp /data/updated_at --deleted /action=remove`,
    )
    .action(
      act(
        async (s, [service], opts: CreateOptions) => {
          // Read (from stdin, a prompt or the environment) before anything is sent.
          const secret = await webhookSecret(opts.webhookSecret);
          const { webhookSecret: _secret, json, ...settings } = opts;
          const options = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
          const i = await s.call('createIntegration', { body: { ...options, service: service!, webhook_secret: secret } });
          return json ? { id: i.id, service: i.service, table: i.table, webhook_url: i.webhook_url } : i;
        },
        (i) => created(i as IntegrationView),
      ),
    );

  cmd
    .command('update')
    .description('set the webhook signing secret (Stripe shows it once the endpoint is registered) or the rate limit of an integration')
    .argument(...ID)
    .option('--webhook-secret <secret>', SECRET_HELP)
    .option(
      '--rate-limit <events per second>',
      'accept at most this many events per second (each API process on its own; 429 with Retry-After past it); 0 or off removes the limit',
      parseRateLimit,
    )
    .option('--json', 'print JSON')
    .action(
      act(
        // `secretGiven`: noted for the text, as the secret may come from the environment.
        async (s, [id], opts: { webhookSecret?: string; rateLimit?: number; json?: boolean; secretGiven?: boolean }) => {
          const secret = await webhookSecret(opts.webhookSecret);
          opts.secretGiven = secret !== undefined;
          if (secret === undefined && opts.rateLimit === undefined) throw new Error('give --webhook-secret or --rate-limit (the secret also through HOOKSYNC_WEBHOOK_SECRET; see --help)');
          return s.call('updateIntegration', { params: { id: id! }, body: { webhook_secret: secret, rate_limit_per_second: opts.rateLimit } });
        },
        (i, opts) => updated(i, { secretGiven: opts.secretGiven, rateLimit: opts.rateLimit }),
      ),
    );

  cmd
    .command('list')
    .description('list integrations: service, table, events accepted (and how many changed a row), the last event\'s time, secret, rate limit and webhook URL')
    .option('--json', 'print JSON')
    .action(act(async (s) => (await s.call('listIntegrations')).integrations, listed));

  cmd
    .command('info')
    .description(
      "show an integration: its service, table (and its rows), events accepted and the last one's time, webhook URL, the events waiting in its inbox (and the age of the oldest), its dead letters and its last backfill",
    )
    .argument(...ID)
    .option('--json', 'print JSON: the fields of `list` plus rows, rows_deleted, inbox_waiting, inbox_oldest_age_seconds, dead_letters, last_dead_letter_error, last_dead_letter_at, backfill')
    .action(
      act(async (s, [id]) => {
        const base = await s.call('getIntegration', { params: { id: id! } });
        return { ...base, backfill: await s.call('getBackfill', { params: { id: id! } }) };
      }, info),
    );

  cmd
    .command('retry-failed')
    .description('apply the dead letters of an integration again (events the database refused, e.g. before a constraint was fixed): they go back into the inbox, and what is refused again returns with its error')
    .argument(...ID)
    .option('--wait <seconds>', `how long to wait for the outcome (at most ${RETRY_WAIT_MAX_SECONDS})`, parseInteger('--wait'), 30)
    .option('--json', 'print JSON: {id, requeued, done, failed_again, waiting, woken}')
    .action(act((s, [id], opts: { wait: number }) => s.call('retryFailedIntegration', { params: { id: id! }, body: { wait_seconds: opts.wait } }), retried));
  cmd.addCommand(backfillCommand());
  cmd.addCommand(integrationDeleteCommand());
  cmd.addCommand(sendTestEventCommand());
  return cmd;
}

/** `1,234 (1,200 changed a row)`. */
function eventsText(i: { events_received: number; events_applied: number }): string {
  if (i.events_received === 0) return 'none yet';
  return `${i.events_received.toLocaleString('en-US')} (${i.events_applied.toLocaleString('en-US')} changed a row)`;
}

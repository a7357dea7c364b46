import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { findDescriptor, serviceNames } from '../../src/integrations';
import type { IntegrationInfo, IntegrationView, RetryFailedResult } from '../../src/services/integrations';
import { RATE_LIMIT_MAX, RETRY_WAIT_MAX_SECONDS } from '../../src/services/integrations';
import { formatDuration } from '../../src/text/format';
import { act, parseInteger } from '../context';
import { when } from '../render';

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

function updated(i: IntegrationView, opts: { webhookSecret?: string; rateLimit?: number }): string {
  const lines: string[] = [];
  if (opts.webhookSecret !== undefined) lines.push(`Webhook secret of ${i.id} updated; events signed with it are accepted at ${i.webhook_url}`);
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
  const table = new Table({ head: ['id', 'service', 'table', 'secret', 'rate limit', 'webhook URL'] });
  for (const i of all) {
    table.push([i.id, i.service, i.table, i.has_webhook_secret ? 'set' : 'missing', i.rate_limit_per_second === null ? '–' : `${i.rate_limit_per_second}/s`, i.webhook_url]);
  }
  return table.toString();
}

function info(i: IntegrationInfo): string {
  const rows: Array<[string, string]> = [
    ['integration', `${i.id} (${i.service})`],
    ['table', i.table],
    ['webhook URL', i.webhook_url],
    ['webhook secret', i.has_webhook_secret ? 'set' : 'missing: set it with `hooksync integrations update ' + i.id + ' --webhook-secret …`'],
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

export function integrationsCommand(): Command {
  const cmd = new Command('integrations').description('create, list and inspect integrations (an upstream resource, e.g. Stripe customers, and its table)');

  cmd
    .command('create')
    .description(`create an integration and its table; prints the webhook URL to register upstream (available: ${serviceNames().join(', ')})`)
    .argument('<service>', 'integration name, e.g. stripe_customer_v1')
    .option('--webhook-secret <secret>', 'the upstream signing secret (Stripe: whsec_…); can be set later with `integrations update`')
    .option('--json', 'print JSON: {id, service, table, webhook_url}')
    .action(
      act(
        async (s, [service], opts: { webhookSecret?: string; json?: boolean }) => {
          const i = await s.call('createIntegration', { body: { service: service!, webhook_secret: opts.webhookSecret } });
          return opts.json ? { id: i.id, service: i.service, table: i.table, webhook_url: i.webhook_url } : i;
        },
        (i) => created(i as IntegrationView),
      ),
    );

  cmd
    .command('update')
    .description('set the webhook signing secret (Stripe shows it once the endpoint is registered) or the rate limit of an integration')
    .argument(...ID)
    .option('--webhook-secret <secret>', 'the upstream signing secret (Stripe: whsec_…)')
    .option(
      '--rate-limit <events per second>',
      'accept at most this many events per second (each API process on its own; 429 with Retry-After past it); 0 or off removes the limit',
      parseRateLimit,
    )
    .option('--json', 'print JSON')
    .action(
      act(
        (s, [id], opts: { webhookSecret?: string; rateLimit?: number; json?: boolean }) => {
          if (opts.webhookSecret === undefined && opts.rateLimit === undefined) throw new Error('give --webhook-secret or --rate-limit (see --help)');
          return s.call('updateIntegration', { params: { id: id! }, body: { webhook_secret: opts.webhookSecret, rate_limit_per_second: opts.rateLimit } });
        },
        updated,
      ),
    );

  cmd
    .command('list')
    .description('list integrations')
    .option('--json', 'print JSON')
    .action(act(async (s) => (await s.call('listIntegrations')).integrations, listed));

  cmd
    .command('info')
    .description('show an integration: its service, table and webhook URL, the events waiting in its inbox (and the age of the oldest), and its dead letters')
    .argument(...ID)
    .option('--json', 'print JSON: the fields of `list` plus inbox_waiting, inbox_oldest_age_seconds, dead_letters, last_dead_letter_error, last_dead_letter_at')
    .action(act((s, [id]) => s.call('getIntegration', { params: { id: id! } }), info));

  cmd
    .command('retry-failed')
    .description('apply the dead letters of an integration again (events the database refused, e.g. before a constraint was fixed): they go back into the inbox, and what is refused again returns with its error')
    .argument(...ID)
    .option('--wait <seconds>', `how long to wait for the outcome (at most ${RETRY_WAIT_MAX_SECONDS})`, parseInteger('--wait'), 30)
    .option('--json', 'print JSON: {id, requeued, done, failed_again, waiting, woken}')
    .action(act((s, [id], opts: { wait: number }) => s.call('retryFailedIntegration', { params: { id: id! }, body: { wait_seconds: opts.wait } }), retried));
  return cmd;
}

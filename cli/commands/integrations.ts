import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { findDescriptor, serviceNames } from '../../src/integrations';
import { createIntegration, listIntegrations, RATE_LIMIT_MAX, updateIntegration } from '../../src/services/integrations';
import { fail, output, withServices } from '../context';

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
  const cmd = new Command('integrations').description('create and list integrations (an upstream resource, e.g. Stripe customers, and its table)');

  cmd
    .command('create')
    .description(`create an integration and its table; prints the webhook URL to register upstream (available: ${serviceNames().join(', ')})`)
    .argument('<service>', 'integration name, e.g. stripe_customer_v1')
    .option('--webhook-secret <secret>', 'the upstream signing secret (Stripe: whsec_…); can be set later with `integrations update`')
    .option('--json', 'print JSON: {id, service, table, webhook_url}')
    .action(async (service: string, opts: { webhookSecret?: string; json?: boolean }) => {
      try {
        const created = await withServices((deps) => createIntegration(deps, { service, webhookSecret: opts.webhookSecret }));
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
    .option('--webhook-secret <secret>', 'the upstream signing secret (Stripe: whsec_…)')
    .option(
      '--rate-limit <events per second>',
      'accept at most this many events per second (each API process on its own; 429 with Retry-After past it); 0 or off removes the limit',
      parseRateLimit,
    )
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { webhookSecret?: string; rateLimit?: number; json?: boolean }) => {
      try {
        if (opts.webhookSecret === undefined && opts.rateLimit === undefined) throw new Error('give --webhook-secret or --rate-limit (see --help)');
        const updated = await withServices((deps) => updateIntegration(deps, id, { webhookSecret: opts.webhookSecret, rateLimitPerSecond: opts.rateLimit }));
        output(opts, updated, () =>
          [
            ...(opts.webhookSecret !== undefined ? [`Webhook secret of ${updated.id} updated; events signed with it are accepted at ${updated.webhook_url}`] : []),
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
    .description('list integrations')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      try {
        const all = await withServices((deps) => listIntegrations(deps));
        output(opts, all, () => {
          if (all.length === 0) return 'No integrations yet. Create one with: hooksync integrations create stripe_customer_v1';
          const table = new Table({ head: ['id', 'service', 'table', 'secret', 'rate limit', 'webhook URL'] });
          for (const i of all) {
            table.push([i.id, i.service, i.table, i.has_webhook_secret ? 'set' : 'missing', i.rate_limit_per_second === null ? '–' : `${i.rate_limit_per_second}/s`, i.webhook_url]);
          }
          return table.toString();
        });
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
  return cmd;
}

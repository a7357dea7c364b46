import { Command } from 'commander';
import Table from 'cli-table3';
import { findDescriptor, serviceNames } from '../../src/integrations';
import { createIntegration, listIntegrations, updateIntegration } from '../../src/services/integrations';
import { fail, output, withServices } from '../context';

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
    .description('set the webhook signing secret of an integration (Stripe shows it once the endpoint is registered)')
    .argument('<id>', 'integration id (svi_…)')
    .requiredOption('--webhook-secret <secret>', 'the upstream signing secret (Stripe: whsec_…)')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { webhookSecret: string; json?: boolean }) => {
      try {
        const updated = await withServices((deps) => updateIntegration(deps, id, { webhookSecret: opts.webhookSecret }));
        output(opts, updated, () => `Webhook secret of ${updated.id} updated; events signed with it are accepted at ${updated.webhook_url}`);
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
          const table = new Table({ head: ['id', 'service', 'table', 'secret', 'webhook URL'] });
          for (const i of all) table.push([i.id, i.service, i.table, i.has_webhook_secret ? 'set' : 'missing', i.webhook_url]);
          return table.toString();
        });
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
  return cmd;
}

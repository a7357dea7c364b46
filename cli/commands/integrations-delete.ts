import { confirm } from '@inquirer/prompts';
import { Command } from 'commander';
import { ServiceError } from '../../src/services/errors';
import { act } from '../context';

/**
 * `hooksync integrations delete <id>`: asks first (the table is dropped, there is no undo), unless
 * --yes. Without a terminal to ask on, and without --yes, it refuses rather than guessing.
 */
export function integrationDeleteCommand(): Command {
  return new Command('delete')
    .description('delete an integration with its HTTP Sync targets, its inbox, its dead letters and its table, and terminate its workflows (its targets\' and its ingest workflows); asks for confirmation first')
    .argument('<id>', 'integration id (svi_…)')
    .option('--yes', 'do not ask: delete at once (needed when there is no terminal to ask on)')
    .option('--json', 'print JSON: {id, service, table, targets, workflows_terminated}')
    .action(
      act(
        async (s, [id], opts: { yes?: boolean }) => {
          if (!opts.yes) {
            const integration = await s.call('getIntegration', { params: { id: id! } });
            const { targets } = await s.call('listTargets', { query: { integration_id: id } });
            if (!process.stdin.isTTY || !process.stdout.isTTY) {
              throw new ServiceError('invalid', `not deleting ${id} without confirmation: there is no terminal to ask on; run again with --yes`);
            }
            const what =
              `Delete ${integration.service} integration ${id}, its table ${integration.table} with every row in it` +
              (targets.length ? ` and its ${targets.length} HTTP Sync target${targets.length === 1 ? '' : 's'} (${targets.map((t) => t.id).join(', ')})` : '') +
              '? This cannot be undone.';
            // The prompt writes to stderr, so --json output stays one document.
            const yes = await confirm({ message: what, default: false }, { output: process.stderr });
            if (!yes) throw new ServiceError('invalid', `not deleted: ${id} is unchanged`);
          }
          return s.call('deleteIntegration', { params: { id: id! } });
        },
        (deleted) =>
          [
            `Deleted ${deleted.service} integration ${deleted.id} and its table ${deleted.table}.`,
            deleted.targets.length ? `Its targets are deleted too: ${deleted.targets.join(', ')}.` : 'It had no HTTP Sync targets.',
            deleted.workflows_terminated.length ? `Terminated its workflows: ${deleted.workflows_terminated.join(', ')}.` : 'None of its workflows was running.',
            'Events sent to its webhook URL are refused with 404 (within seconds, as the API processes notice).',
          ].join('\n'),
      ),
    );
}

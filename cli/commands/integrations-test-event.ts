import { confirm } from '@inquirer/prompts';
import { Command } from 'commander';
import { readDevConnection } from '../../src/config';
import { ServiceError } from '../../src/services/errors';
import { act } from '../context';

interface Sent {
  status: number;
  key: string;
}

/** The API the CLI is configured for: HOOKSYNC_API_URL, else the local one (on PORT, or where `hooksync dev` runs). */
export function apiBase(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HOOKSYNC_API_URL) return env.HOOKSYNC_API_URL.replace(/\/+$/, '');
  const dev = readDevConnection();
  if (!env.PORT && dev?.apiUrl) return dev.apiUrl.replace(/\/+$/, '');
  return `http://localhost:${env.PORT || 8080}`;
}

const sameServer = (a: string, b: string) => {
  const norm = (u: string) => new URL(u.replace('//localhost', '//127.0.0.1')).origin;
  return norm(a) === norm(b);
};

/** Whether `base` is the API of a `hooksync dev` running in this folder (a playground: no need to ask). */
function isDevApi(base: string): boolean {
  const dev = readDevConnection();
  if (!dev?.pid || !dev.apiUrl) return false;
  try {
    process.kill(dev.pid, 0);
  } catch {
    return false;
  }
  return sameServer(base, dev.apiUrl);
}

/**
 * `hooksync integrations send-test-event <id>`: the service layer (this process, or the API when
 * HOOKSYNC_API_URL is set: only it can open the webhook secret) signs a sample event of the
 * integration's upstream; this command POSTs it to the webhook endpoint like the upstream would.
 */
export function sendTestEventCommand(): Command {
  return new Command('send-test-event')
    .description(
      "send a correctly signed sample event of the integration's upstream to its webhook endpoint on the API this CLI is configured for (HOOKSYNC_API_URL, else the local one): each call makes a newer version of the resource, so it changes a row; asks first unless it goes to a running `hooksync dev`",
    )
    .argument('<id>', 'integration id (svi_…)')
    .option('--key <key>', "the resource's remote key (default: test_<resource>, e.g. test_customer)")
    .option('--deleted', 'an event that deletes the resource')
    .option('--yes', 'do not ask (needed outside `hooksync dev` when there is no terminal to ask on)')
    .option('--json', 'print JSON: {status, key}')
    .action(
      act(
        async (s, [id], opts: { key?: string; deleted?: boolean; yes?: boolean }): Promise<Sent> => {
          const base = apiBase();
          const event = await s.call('buildTestEvent', { params: { id: id! }, body: { key: opts.key, deleted: Boolean(opts.deleted) } });
          const url = base + event.webhook_path;
          if (!opts.yes && !isDevApi(base)) {
            if (!process.stdin.isTTY || !process.stdout.isTTY) {
              throw new ServiceError('invalid', `not sending a test event to ${url} without confirmation: there is no terminal to ask on; run again with --yes`);
            }
            const what = `Send a test event to ${url}? It changes the row ${event.key} of integration ${id} (and its targets deliver it).`;
            // The prompt writes to stderr, so --json output stays one document.
            if (!(await confirm({ message: what, default: false }, { output: process.stderr }))) throw new ServiceError('invalid', 'nothing sent');
          }
          let res: Response;
          try {
            res = await fetch(url, { method: 'POST', headers: event.headers, body: event.body, signal: AbortSignal.timeout(30_000) });
          } catch (err) {
            throw new ServiceError('unavailable', `could not reach ${url}: ${(err as Error).cause ?? (err as Error).message}`);
          }
          const answer = await res.text();
          if (!res.ok) {
            process.exitCode = 1;
            process.stderr.write(`error: ${url} answered ${res.status}: ${answer.slice(0, 500)}\n`);
          }
          return { status: res.status, key: event.key };
        },
        (sent) => (sent.status < 300 ? `Sent a test event for ${sent.key}: ${sent.status}. See the row with: hooksync integrations info <id>` : `Not accepted (${sent.status}).`),
      ),
    );
}

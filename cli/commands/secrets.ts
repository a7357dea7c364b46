import { Command } from 'commander';
import Table from 'cli-table3';
import { ConfigError } from '../../src/config';
import { fail, withDatabase } from '../context';

export function rotateEncryptionKeyCommand(): Command {
  return new Command('rotate-encryption-key')
    .description(
      'seal every stored secret (webhook secrets, target URLs with their credentials, signing secrets, backfill API keys) under the first key of HOOKSYNC_ENCRYPTION_KEY; ' +
        'the others (comma-separated after it) still open what they sealed, so give `new,old` until this has run, then `new` alone. Values still in clear are sealed too. ' +
        'An operator command: it runs on the database itself (DATABASE_URL and the keys), never through the management API, even with HOOKSYNC_API_URL set',
    )
    .option('--json', 'print JSON: {key_id, columns: [{column, sealed, resealed, unchanged, unreadable}]}')
    .action(async (opts: { json?: boolean }) => {
      try {
        const { keyringOf } = require('../../src/services/keyring-startup') as typeof import('../../src/services/keyring-startup');
        const { resealSecrets } = require('../../src/db/secrets') as typeof import('../../src/db/secrets');
        const { keyring, columns } = await withDatabase(async (config, pool) => {
          const keyring = keyringOf(config);
          if (!keyring) throw new ConfigError('HOOKSYNC_ENCRYPTION_KEY is not set: give the new key first, then the old ones, comma-separated (`openssl rand -base64 32` makes a key)');
          return { keyring, columns: await resealSecrets(pool, keyring) };
        });
        const unreadable = columns.reduce((n, c) => n + c.unreadable, 0);
        const text = () => {
          const table = new Table({ head: ['column', 'sealed (were clear)', 're-sealed', 'already current', 'unreadable'] });
          for (const c of columns) table.push([c.column, c.sealed, c.resealed, c.unchanged, c.unreadable]);
          return [
            `Every secret is now sealed under key ${keyring.currentKeyId}${unreadable ? ', except the unreadable ones' : ''}:`,
            table.toString(),
            unreadable
              ? `${unreadable} value(s) are sealed under a key HOOKSYNC_ENCRYPTION_KEY does not hold (accepted: ${keyring.keyIds.join(', ')}): add that key after the first and run this again.`
              : 'The older keys can now be removed from HOOKSYNC_ENCRYPTION_KEY.',
          ].join('\n');
        };
        process.stdout.write((opts.json ? JSON.stringify({ key_id: keyring.currentKeyId, columns }, null, 2) : text()) + '\n');
        if (unreadable) process.exitCode = 1;
      } catch (err) {
        fail(err, Boolean(opts.json));
      }
    });
}

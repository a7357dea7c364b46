import { Command } from 'commander';
import { packageVersion } from '../src/package-info';
import { exitAfterLogs } from './context';
import { devCommand } from './commands/dev';
import { httpsyncCommand } from './commands/httpsync';
import { integrationsCommand } from './commands/integrations';
import { rotateEncryptionKeyCommand } from './commands/secrets';
import { apiCommand, migrateCommand, workerCommand } from './commands/serve';

const program = new Command('hooksync')
  .description('Webhooks into PostgreSQL rows, delivered to your backend in order with HTTP Sync, on Temporal.')
  .version(packageVersion)
  .addHelpText(
    'after',
    `
Environment: DATABASE_URL, TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE (default default),
PORT (API, default 8080), HOOKSYNC_ALLOW_HTTP=1 (allow plain-http targets, development only),
HOOKSYNC_PUBLIC_URL (how upstreams reach the API), HOOKSYNC_API_TOKEN (enables the management API),
TEMPORAL_TLS=1, TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA (paths or PEM), TEMPORAL_TLS_SERVER_NAME,
TEMPORAL_API_KEY (Temporal Cloud), HOOKSYNC_WORKER_METRICS_PORT (worker /metrics and /healthz),
HOOKSYNC_SHUTDOWN_GRACE_SECONDS (default 30: how long a stop lets work in hand finish),
HOOKSYNC_ENCRYPTION_KEY (base64 of 32 bytes; comma-separated, the first seals: secrets stored in PostgreSQL are encrypted),
HOOKSYNC_WEBHOOK_SECRET and HOOKSYNC_TARGET_URL (instead of --webhook-secret and --url, which end up in shell history and ps).
Beside a running \`hooksync dev\`, the other commands find its database and Temporal by themselves.

Through the management API: with HOOKSYNC_API_URL (e.g. https://hooksync.example.com) and
HOOKSYNC_API_TOKEN (one of the API's tokens) set, the integrations and httpsync commands go through
the API instead of the database: no database, Temporal or encryption key needed. Errors and exit
codes are the same; a refused token exits with code 1. rotate-encryption-key always works on the
database itself.`,
  );

program.addCommand(devCommand());
program.addCommand(integrationsCommand());
program.addCommand(httpsyncCommand());
program.addCommand(apiCommand());
program.addCommand(workerCommand());
program.addCommand(migrateCommand());
program.addCommand(rotateEncryptionKeyCommand());

program.parseAsync(process.argv).catch((err) => {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  exitAfterLogs(1);
});

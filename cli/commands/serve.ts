import { Command } from 'commander';
import { loadConfig } from '../../src/config';
import { logger } from '../../src/log';
import type { Running } from '../../src/processes';
import { fail } from '../context';

// The worker and the servers load only when one of these commands runs: the other commands stay quick.
const processes = () => require('../../src/processes') as typeof import('../../src/processes');

/** Runs until SIGINT/SIGTERM, then closes what it started. */
export function untilSignal(parts: Running[]): Promise<void> {
  return new Promise((resolve) => {
    const stop = async (signal: string) => {
      logger.info({ signal }, 'stopping');
      for (const p of [...parts].reverse()) await p.close().catch((err) => logger.error({ err }, 'stop failed'));
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function apiCommand(): Command {
  return new Command('api')
    .description(
      'run the HTTP API (webhooks, management API, /healthz, /readyz, /v1/openapi.json) on PORT, against DATABASE_URL and TEMPORAL_ADDRESS; ' +
        '/metrics on HOOKSYNC_METRICS_PORT when set (a port on 127.0.0.1, or host:port), never on PORT',
    )
    .action(async () => {
      try {
        const api = await processes().startApi(loadConfig());
        await untilSignal([api]);
      } catch (err) {
        fail(err, false);
      }
    });
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run the Temporal worker (ingest and HTTP Sync workflows and their activities) against DATABASE_URL and TEMPORAL_ADDRESS')
    .action(async () => {
      try {
        const worker = await processes().startWorkerProcess(loadConfig());
        await Promise.race([untilSignal([worker]), worker.done]);
      } catch (err) {
        fail(err, false);
      }
    });
}

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('create or upgrade hooksync\'s tables in DATABASE_URL and register its search attributes in Temporal')
    .action(async () => {
      try {
        const config = loadConfig();
        const { migrate } = require('../../src/db/migrate') as typeof import('../../src/db/migrate');
        const { createPool } = require('../../src/db/pool') as typeof import('../../src/db/pool');
        const pool = createPool(config.DATABASE_URL, 1);
        try {
          const applied = await migrate(pool);
          process.stdout.write(applied.length ? `Applied ${applied.join(', ')}\n` : 'The database is up to date.\n');
        } finally {
          await pool.end();
        }
        await processes().registerSearchAttributes(config);
      } catch (err) {
        fail(err, false);
      }
    });
}

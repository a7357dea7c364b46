import { Command } from 'commander';
import { loadConfig, type Config } from '../../src/config';
import { logger } from '../../src/log';
import type { Running } from '../../src/processes';
import { exitAfterLogs, fail } from '../context';

// The worker and the servers load only when one of these commands runs: the other commands stay quick.
const processes = () => require('../../src/processes') as typeof import('../../src/processes');

/**
 * Runs until SIGINT/SIGTERM, then closes what it started, newest first, and resolves with what had
 * to be cut short. A second signal, or the hard limit (a stop that hangs), exits at once with code 1.
 */
export function untilSignal(parts: Running[], opts: { hardLimitMs: number }): Promise<string[]> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        exitAfterLogs(1);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      setTimeout(() => {
        logger.error({ limitMs: opts.hardLimitMs }, 'stopping took too long: exiting now');
        exitAfterLogs(1);
      }, opts.hardLimitMs).unref();
      const cutOff: string[] = [];
      for (const p of [...parts].reverse()) {
        const what = await p.close().catch((err: Error) => {
          logger.error({ err }, 'stop failed');
          return `stop failed: ${err.message}`;
        });
        if (what) cutOff.push(what);
      }
      resolve(cutOff);
    };
    // stop() catches every failure of a part itself.
    process.on('SIGINT', (signal) => void stop(signal));
    process.on('SIGTERM', (signal) => void stop(signal));
  });
}

/** The api and worker commands: stop within the grace period (plus a margin for closing connections). */
async function serveUntilSignal(part: Running, config: Config): Promise<never> {
  const cutOff = await untilSignal([part], { hardLimitMs: config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS * 1000 + 5_000 });
  if (cutOff.length > 0) logger.warn({ cutOff }, 'stopped; work in hand was cut short (it is retried, nothing is lost)');
  else logger.info('stopped');
  exitAfterLogs(cutOff.length > 0 ? 1 : 0);
}

export function apiCommand(): Command {
  return new Command('api')
    .description(
      'run the HTTP API (webhooks, management API, /healthz, /readyz, /v1/openapi.json) on PORT, against DATABASE_URL and TEMPORAL_ADDRESS; ' +
        '/metrics on HOOKSYNC_METRICS_PORT when set (a port on 127.0.0.1, or host:port), never on PORT',
    )
    .action(async () => {
      try {
        const config = loadConfig();
        const api = await processes().startApi(config);
        await serveUntilSignal(api, config);
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
        const config = loadConfig();
        const worker = await processes().startWorkerProcess(config);
        // A worker that fails on its own (e.g. its namespace is gone) exits non-zero, for a restart.
        worker.done.catch((err: Error) => fail(err, false));
        await serveUntilSignal(worker, config);
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

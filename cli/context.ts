import type { Command } from 'commander';
import { remoteServices } from '../src/api/client';
import { localServices, type Services } from '../src/api/operations';
import type pg from 'pg';
import { loadConfig, type Config } from '../src/config';
import { createPool } from '../src/db/pool';
import { allowTargets } from '../src/http/address-guard';
import { temporalAccess } from '../src/temporal/access';
import { connectTemporal } from '../src/temporal/client';
import { ServiceError } from '../src/services/errors';
import { prepareKeyring } from '../src/services/keyring-startup';
import { flushLogs, logger } from '../src/log';

/**
 * Where a command's operations run: through the management API when HOOKSYNC_API_URL is set (with
 * HOOKSYNC_API_TOKEN; no database, Temporal or encryption key needed: the API holds them), else in
 * this process, with a small pool and a Temporal client opened at the first operation.
 */
export function openServices(env: NodeJS.ProcessEnv = process.env): Services {
  if (env.HOOKSYNC_API_URL) return remoteServices({ url: env.HOOKSYNC_API_URL, token: env.HOOKSYNC_API_TOKEN });
  return localServices(async () => {
    const config = loadConfig(env);
    // Verification POSTs go out from this process: with the same allow-list as the servers.
    allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
    const pool = createPool(config.DATABASE_URL, 2);
    const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, temporalAccess(config));
    const close = async () => {
      await Promise.allSettled([pool.end(), temporal.close()]);
    };
    try {
      // Refuses without HOOKSYNC_ENCRYPTION_KEY once secrets are stored encrypted: a command would
      // read none of them, and write new ones in clear.
      const keyring = await prepareKeyring(config, pool);
      return { deps: { pool, temporal, config, keyring }, close };
    } catch (err) {
      await close();
      throw err;
    }
  });
}

/**
 * For the operator's commands that work on the database itself (rotate-encryption-key), never
 * through the API: the config from the environment, and a pool closed after.
 */
export async function withDatabase<T>(fn: (config: Config, pool: pg.Pool) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const pool = createPool(config.DATABASE_URL, 1);
  try {
    return await fn(config, pool);
  } finally {
    await pool.end();
  }
}

export interface JsonOption {
  json?: boolean;
}

/**
 * One CLI action: `run` gets the services, the command's arguments and its options; what it
 * returns is printed (one JSON document with --json, else `show`'s text; nothing when it returns
 * undefined); an error becomes one line on stderr (and a JSON document with --json) and exit code
 * 1. The services are closed either way.
 *
 *   .action(act((s, [id]) => s.call('getTarget', { params: { id } }), renderInfo))
 */
export function act<O extends object, R>(run: (services: Services, args: string[], opts: O) => Promise<R>, show: (result: NonNullable<R>, opts: NoInfer<O>) => string) {
  return async (...given: unknown[]): Promise<void> => {
    const command = given[given.length - 1] as Command;
    const opts = command.opts<O & JsonOption>();
    const args = given.slice(0, -2) as string[];
    let services: Services | undefined;
    try {
      services = openServices();
      const result = await run(services, args, opts);
      if (result !== undefined && result !== null) process.stdout.write((opts.json ? JSON.stringify(result, null, 2) : show(result, opts)) + '\n');
    } catch (err) {
      await services?.close();
      fail(err, Boolean(opts.json));
    }
    await services.close();
  };
}

/** Errors become one line on stderr (and a JSON document with --json), and exit code 1. */
export function fail(err: unknown, json: boolean): never {
  const e = err as { code?: string; message?: string };
  const code = err instanceof ServiceError ? err.code : typeof e.code === 'string' ? e.code : 'error';
  const detail = e.message ?? String(err);
  // With LOG_LEVEL=debug, the whole error (its stack, its cause) for a bug report.
  logger.debug({ err, code }, 'the command failed');
  if (json) process.stdout.write(JSON.stringify({ error: { code, detail } }, null, 2) + '\n');
  process.stderr.write(`error: ${detail}\n`);
  exitAfterLogs(1);
}

/** pino writes asynchronously: what was logged reaches stderr before the process ends. */
export function exitAfterLogs(code: number): never {
  flushLogs();
  process.exit(code);
}

export function parseInteger(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new Error(`${name} must be a whole number, got "${value}"`);
    return Number(value);
  };
}

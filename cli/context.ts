import { loadConfig, type Config } from '../src/config';
import { createPool } from '../src/db/pool';
import { temporalAccess } from '../src/temporal/access';
import { allowTargets } from '../src/http/address-guard';
import { connectTemporal } from '../src/temporal/client';
import type { ServiceDeps } from '../src/services/deps';
import { ServiceError } from '../src/services/errors';
import { prepareKeyring } from '../src/secrets/startup';
import { flushLogs, logger } from '../src/log';

/** Runs one CLI action with a small pool and a Temporal client, and closes both after. */
export async function withServices<T>(fn: (deps: ServiceDeps) => Promise<T>): Promise<T> {
  const config: Config = loadConfig();
  // Verification POSTs go out from this process: with the same allow-list as the servers.
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const pool = createPool(config.DATABASE_URL, 2);
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, temporalAccess(config));
  try {
    // Refuses without HOOKSYNC_ENCRYPTION_KEY once secrets are stored encrypted: a command would
    // read none of them, and write new ones in clear.
    const keyring = await prepareKeyring(config, pool);
    return await fn({ pool, temporal, config, keyring });
  } finally {
    await Promise.allSettled([pool.end(), temporal.close()]);
  }
}

export interface JsonOption {
  json?: boolean;
}

/** `--json`: one JSON document on stdout; otherwise the human text. */
export function output(opts: JsonOption, value: unknown, human: () => string): void {
  process.stdout.write(opts.json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

/** Errors become one line on stderr (and a JSON document with --json), and exit code 1. */
export function fail(err: unknown, json: boolean): never {
  const e = err as { code?: string; message?: string };
  const code = err instanceof ServiceError ? err.code : (e.code ?? 'error');
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

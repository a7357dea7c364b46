import { loadConfig, type Config } from '../src/config';
import { createPool } from '../src/db/pool';
import { temporalAccess } from '../src/temporal/access';
import { allowTargets } from '../src/http/address-guard';
import { connectTemporal } from '../src/temporal/client';
import type { ServiceDeps } from '../src/services/deps';
import { ServiceError } from '../src/services/errors';

/** Runs one CLI action with a small pool and a Temporal client, and closes both after. */
export async function withServices<T>(fn: (deps: ServiceDeps) => Promise<T>): Promise<T> {
  const config: Config = loadConfig();
  // Verification POSTs go out from this process: with the same allow-list as the servers.
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const pool = createPool(config.DATABASE_URL, 2);
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, temporalAccess(config));
  try {
    return await fn({ pool, temporal, config });
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
  if (json) process.stdout.write(JSON.stringify({ error: { code, detail } }, null, 2) + '\n');
  process.stderr.write(`error: ${detail}\n`);
  process.exit(1);
}

export function parseInteger(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new Error(`${name} must be a whole number, got "${value}"`);
    return Number(value);
  };
}

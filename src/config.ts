import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** Where `hooksync dev` keeps its state: embedded PostgreSQL, Temporal's database, the connection file. */
export const stateDir = path.resolve(process.env.HOOKSYNC_HOME ?? '.hooksync');
export const devConnectionFile = path.join(stateDir, 'dev.json');

const flag = z
  .string()
  .optional()
  .transform((v) => v === '1' || v === 'true');

const EnvSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOOKSYNC_ALLOW_HTTP: flag,
  /** The address upstreams reach the API at; used to print webhook URLs. */
  HOOKSYNC_PUBLIC_URL: z.string().url().optional(),
  /** Bearer token for the management API; without it only webhooks and health are served. */
  HOOKSYNC_API_TOKEN: z.string().min(16).optional(),
  /** Workers and clients of one deployment share it; tests give each run its own. */
  HOOKSYNC_TASK_QUEUE: z.string().min(1).default('hooksync'),
  HOOKSYNC_INGEST_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  /** History events per workflow run before it continues as new (HTTP Sync default 4,000; lower it to exercise roll-over). */
  HOOKSYNC_HISTORY_LIMIT: z.coerce.number().int().min(50).max(40000).optional(),
  HOOKSYNC_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof EnvSchema> & { DATABASE_URL: string };

interface DevConnection {
  databaseUrl: string;
  temporalAddress: string;
  apiUrl: string;
  /** The `hooksync dev` process, so a second one in the same folder can refuse to start. */
  pid: number;
}

/** What a running `hooksync dev` wrote down, so other commands in another terminal find it. */
export function readDevConnection(): DevConnection | undefined {
  try {
    return JSON.parse(fs.readFileSync(devConnectionFile, 'utf8')) as DevConnection;
  } catch {
    return undefined;
  }
}

export function writeDevConnection(conn: DevConnection): void {
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(devConnectionFile, JSON.stringify(conn, null, 2) + '\n', { mode: 0o600 });
}

/**
 * Reads the environment once. Without DATABASE_URL / TEMPORAL_ADDRESS, falls back to the
 * connection a running `hooksync dev` recorded, so operators can use the CLI beside it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid environment: ${problems}`);
  }
  const cfg = parsed.data;
  // All or nothing: a process given its own database never mixes in a dev server's settings.
  const dev = cfg.DATABASE_URL ? undefined : readDevConnection();
  const databaseUrl = cfg.DATABASE_URL ?? dev?.databaseUrl;
  if (!databaseUrl) {
    throw new ConfigError('DATABASE_URL is not set (and no `hooksync dev` is running in this folder)');
  }
  return {
    ...cfg,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS ? cfg.TEMPORAL_ADDRESS : (dev?.temporalAddress ?? cfg.TEMPORAL_ADDRESS),
    HOOKSYNC_PUBLIC_URL: cfg.HOOKSYNC_PUBLIC_URL ?? dev?.apiUrl,
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function publicBaseUrl(cfg: Config): string {
  return (cfg.HOOKSYNC_PUBLIC_URL ?? `http://localhost:${cfg.PORT}`).replace(/\/+$/, '');
}

import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseAllowList, type AllowList } from './http/address-guard';
import { parseListen, type Listen } from './metrics-server';
import { createKeyring } from './secrets/keyring';

/** Where `hooksync dev` keeps its state: embedded PostgreSQL, Temporal's database, the connection file. */
export const stateDir = path.resolve(process.env.HOOKSYNC_HOME ?? '.hooksync');
export const devConnectionFile = path.join(stateDir, 'dev.json');
/** The HOOKSYNC_ENCRYPTION_KEY `hooksync dev` made (when none was given), and the CLI beside it uses. */
export const devKeyFile = path.join(stateDir, 'encryption.key');

/** The dev key, made on first use and reused after (only ever read and written by this user). */
export function devEncryptionKey(create: boolean, generate: () => string): string | undefined {
  try {
    return fs.readFileSync(devKeyFile, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) return undefined;
  }
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(devKeyFile, generate() + '\n', { mode: 0o600, flag: 'wx' });
  return fs.readFileSync(devKeyFile, 'utf8').trim();
}

const flag = z
  .string()
  .optional()
  .transform((v) => v === '1' || v === 'true');

/** An optional variable read by `parse`, whose error message becomes the config error. */
const parsedBy = <T>(parse: (value: string | undefined) => T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parse(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

const EnvSchema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** TLS to Temporal (mTLS with cert and key; a private CA): each a file path or the PEM text itself. */
  TEMPORAL_TLS_CERT: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS_CA: z.string().min(1).optional(),
  /** TLS with the system's CAs and no client certificate; implied by any TLS_* variable and by an API key. */
  TEMPORAL_TLS: flag,
  /** The name the server's certificate is checked against, when it is not the host of TEMPORAL_ADDRESS. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** An API key (Temporal Cloud), sent as a bearer token over TLS. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** `1`: plain-http targets anywhere (development only); `loopback` (what `hooksync dev` sets): only to this machine. */
  HOOKSYNC_ALLOW_HTTP: z
    .string()
    .optional()
    .transform((v): boolean | 'loopback' => (v === 'loopback' ? 'loopback' : v === '1' || v === 'true')),
  /** The address upstreams reach the API at; used to print webhook URLs. */
  HOOKSYNC_PUBLIC_URL: z.string().url().optional(),
  /**
   * Bearer tokens for the management API, comma-separated (several, so that one can be rotated);
   * without any, only webhooks and health are served.
   */
  HOOKSYNC_API_TOKEN: z
    .string()
    .optional()
    .refine((v) => v === undefined || apiTokens(v).length > 0, 'no token given')
    .refine((v) => v === undefined || apiTokens(v).every((t) => /^[\x21-\x7e]{16,}$/.test(t)), 'each token needs at least 16 characters, without spaces'),
  /** Workers and clients of one deployment share it; tests give each run its own. */
  HOOKSYNC_TASK_QUEUE: z.string().min(1).default('hooksync'),
  HOOKSYNC_INGEST_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  /** History events per workflow run before it continues as new (HTTP Sync default 4,000; lower it to exercise roll-over). */
  HOOKSYNC_HISTORY_LIMIT: z.coerce.number().int().min(50).max(40000).optional(),
  /** The worker's /metrics (its own and the Temporal SDK's) and /healthz. */
  HOOKSYNC_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** On SIGTERM/SIGINT: how long in-flight requests and activities may take before the process exits anyway. */
  HOOKSYNC_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /** Where the API process serves /metrics: `port` (on 127.0.0.1) or `host:port`; unset, nowhere. */
  HOOKSYNC_METRICS_PORT: parsedBy(parseListen),
  /** Hosts, addresses and CIDR ranges targets may use although they are not public (see README). */
  HOOKSYNC_ALLOWED_TARGET_HOSTS: parsedBy(parseAllowList),
  /**
   * Secrets at rest (webhook secrets, receivers' credentials, signing secrets): base64 of 32 bytes;
   * several comma-separated while one replaces another (the first seals, all open).
   */
  HOOKSYNC_ENCRYPTION_KEY: parsedBy((v) => {
    if (v === undefined || v.trim() === '') return undefined;
    createKeyring(v);
    return v;
  }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof EnvSchema> & { DATABASE_URL: string };
export type { AllowList, Listen };

/** HOOKSYNC_API_TOKEN's tokens: comma-separated, blanks around them ignored. */
export function apiTokens(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

/** Every environment variable the configuration reads (deployment files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(EnvSchema.shape));

interface DevConnection {
  databaseUrl: string;
  temporalAddress: string;
  apiUrl: string;
  /** What `hooksync dev` lets targets reach, so that the CLI beside it verifies targets alike. */
  allowedTargetHosts?: string;
  /** HOOKSYNC_ALLOW_HTTP of `hooksync dev` (`loopback` unless given), so that the CLI beside it checks target URLs alike. */
  allowHttp?: string;
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
  if (!cfg.TEMPORAL_TLS_CERT !== !cfg.TEMPORAL_TLS_KEY) {
    throw new ConfigError('invalid environment: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (a client certificate and its key)');
  }
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
    // Beside `hooksync dev`, its database's secrets are sealed with the key it keeps in its state folder.
    HOOKSYNC_ENCRYPTION_KEY: cfg.HOOKSYNC_ENCRYPTION_KEY ?? (dev ? devEncryptionKey(false, () => '') : undefined),
    HOOKSYNC_ALLOW_HTTP: env.HOOKSYNC_ALLOW_HTTP === undefined && dev?.allowHttp ? EnvSchema.shape.HOOKSYNC_ALLOW_HTTP.parse(dev.allowHttp) : cfg.HOOKSYNC_ALLOW_HTTP,
    HOOKSYNC_ALLOWED_TARGET_HOSTS:
      env.HOOKSYNC_ALLOWED_TARGET_HOSTS === undefined && dev?.allowedTargetHosts ? parseAllowList(dev.allowedTargetHosts) : cfg.HOOKSYNC_ALLOWED_TARGET_HOSTS,
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function publicBaseUrl(cfg: Config): string {
  return (cfg.HOOKSYNC_PUBLIC_URL ?? `http://localhost:${cfg.PORT}`).replace(/\/+$/, '');
}

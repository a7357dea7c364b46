import crypto from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, stateDir, type Config } from '../src/config';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { startEmbeddedPostgres } from '../src/dev/embedded-postgres';
import { freePort } from '../src/dev/processes';
import { startTemporalDevServer } from '../src/dev/temporal-server';
import type { ServiceDeps } from '../src/services/deps';
import { connectTemporal } from '../src/temporal/client';
import { spawnNode, type Child } from './children';

/** What the bench runs against, started as `hooksync dev` does, and everything needed to stop it. */

type Cleanup = { what: string; run: () => Promise<void> };

export class Resources {
  private readonly stack: Cleanup[] = [];
  private closing?: Promise<void>;

  add(what: string, run: () => Promise<void>): void {
    this.stack.push({ what, run });
  }

  /** Stops everything, newest first; each step gets a bounded time. */
  close(log: (msg: string) => void): Promise<void> {
    this.closing ??= (async () => {
      while (this.stack.length > 0) {
        const { what, run } = this.stack.pop()!;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            run(),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 30 s')), 30_000))),
          ]);
        } catch (err) {
          log(`stopping ${what} failed: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.closing;
  }
}

export interface Database {
  url: string;
  name: string;
  /** Where it runs: "DATABASE_URL's server", "127.0.0.1:5432" or "embedded". */
  server: string;
  version: string;
}

const LOCAL_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return rows[0]!.v;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}

const withDatabase = (url: string, name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

/** A fresh database hooksync_bench_<random>: on DATABASE_URL's server, the local one, or an embedded PostgreSQL. */
export async function benchDatabase(res: Resources, log: (msg: string) => void): Promise<Database> {
  let adminUrl: string | undefined;
  let server: string;
  let version: string | undefined;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
    server = "DATABASE_URL's server";
    version = await reachable(adminUrl);
    if (!version) throw new Error('DATABASE_URL is set but its server does not answer');
  } else if ((version = await reachable(LOCAL_SERVER))) {
    adminUrl = LOCAL_SERVER;
    server = '127.0.0.1:5432';
  } else {
    log('no PostgreSQL at DATABASE_URL or 127.0.0.1:5432; starting an embedded one…');
    const embedded = await startEmbeddedPostgres({ dir: path.join(stateDir, 'bench-postgres'), log });
    res.add('embedded PostgreSQL', embedded.stop);
    adminUrl = embedded.url;
    server = 'embedded';
    version = (await reachable(adminUrl)) ?? '?';
  }
  const name = `hooksync_bench_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  res.add(`database ${name}`, async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const url = withDatabase(adminUrl, name);
  const pool = createPool(url, 1);
  await migrate(pool).finally(() => pool.end());
  return { url, name, server, version };
}

export async function benchTemporal(res: Resources, logDir: string, log: (msg: string) => void): Promise<string> {
  // In memory (no dbFile), on free ports, headless; with hooksync's search attributes.
  const server = await startTemporalDevServer({ port: 0, ui: false, logFile: path.join(logDir, 'temporal.log'), log });
  res.add('Temporal dev server', server.stop);
  return server.address;
}

export interface HooksyncProcesses {
  api: Child;
  worker: Child;
  apiUrl: string;
}

export interface ProcessOptions {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  logDir: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags: string[];
  /** Extra environment, e.g. HOOKSYNC_INGEST_SHARDS. */
  env: Record<string, string>;
}

export function childEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Settings of the user's own hooksync must not leak into the bench's processes.
  for (const name of ['HOOKSYNC_WORKER_METRICS_PORT', 'HOOKSYNC_PUBLIC_URL', 'HOOKSYNC_HISTORY_LIMIT', 'PORT']) delete env[name];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** `hooksync api` and `hooksync worker`, each its own process, as in production. */
export async function startHooksync(res: Resources, opts: ProcessOptions): Promise<HooksyncProcesses> {
  const port = await freePort('127.0.0.1');
  const env = childEnv({
    DATABASE_URL: opts.databaseUrl,
    TEMPORAL_ADDRESS: opts.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    HOOKSYNC_TASK_QUEUE: opts.taskQueue,
    HOOKSYNC_ALLOW_HTTP: '0',
    LOG_LEVEL: 'info',
    ...opts.env,
  });
  const cli = path.join(__dirname, '..', 'bin', 'hooksync.js');
  const worker = spawnNode({ name: 'worker', args: [...opts.nodeFlags, cli, 'worker'], env, logDir: opts.logDir });
  res.add('worker', () => worker.stop());
  const api = spawnNode({ name: 'api', args: [...opts.nodeFlags, cli, 'api'], env: { ...env, PORT: String(port) }, logDir: opts.logDir });
  res.add('api', () => api.stop());
  await Promise.all([worker.waitForOutput(/worker running/, 120_000), api.waitForOutput(/api listening/, 60_000)]);
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitReady(`${apiUrl}/readyz`, 30_000);
  return { api, worker, apiUrl };
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs / 1000} s: ${last}`);
}

/** The service layer, in this process, as the CLI uses it: createIntegration, createTarget… */
export function serviceDeps(res: Resources, databaseUrl: string, temporalAddress: string, taskQueue: string): ServiceDeps {
  const config: Config = loadConfig({
    ...process.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    HOOKSYNC_TASK_QUEUE: taskQueue,
    HOOKSYNC_ALLOW_HTTP: '0',
  });
  const pool = createPool(databaseUrl, 4);
  const temporal = connectTemporal(temporalAddress, 'default');
  res.add('service layer connections', async () => {
    await Promise.allSettled([pool.end(), temporal.close()]);
  });
  return { pool, temporal, config };
}

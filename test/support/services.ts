import path from 'node:path';
import type pg from 'pg';
import { loadConfig, stateDir, type Config } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { freePort } from '../../src/ports';
import { startTemporalDevServer } from '../../src/dev/temporal-server';
import type { ServiceDeps } from '../../src/services/deps';
import { connectTemporal } from '../../src/temporal/client';
import { spawnNode, type Child } from './children';
import { createDatabase, findServer, withAdmin } from './database';

/**
 * A whole hooksync as separate processes, started as `hooksync dev` does (the benchmarks run
 * against it): a fresh database, a Temporal dev server, `hooksync api` and `hooksync worker`,
 * and everything needed to stop them again.
 */

/** The application_name a process connects with, so its PostgreSQL backends can be told apart. */
export const withApplicationName = (url: string, name: string) => {
  const u = new URL(url);
  u.searchParams.set('application_name', `bench:${name}`);
  return u.toString();
};

/**
 * Stops happen in stages, each stage's steps at once: 1 the bench's own processes and clients,
 * 2 what they used (service connections, the Temporal server, the database), 3 the embedded
 * PostgreSQL the database lived in.
 */
type Stage = 1 | 2 | 3;
type Cleanup = { what: string; run: () => Promise<void>; stage: Stage };

export class Resources {
  private readonly steps: Cleanup[] = [];
  private closing?: Promise<void>;

  add(what: string, run: () => Promise<void>, stage: Stage = 1): void {
    this.steps.push({ what, run, stage });
  }

  /** Stops everything; each step gets a bounded time. */
  close(log: (msg: string) => void): Promise<void> {
    this.closing ??= (async () => {
      for (const stage of [1, 2, 3] as const) {
        const steps = this.steps.filter((s) => s.stage === stage).reverse();
        await Promise.all(
          steps.map(async ({ what, run }) => {
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
          }),
        );
      }
      this.steps.length = 0;
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

/**
 * Databases of earlier runs that could not drop theirs (killed with SIGKILL, say): unused and
 * over an hour old. Needs the right to read the data directory (pg_stat_file); skipped without.
 */
async function dropStaleDatabases(admin: pg.Client, log: (msg: string) => void): Promise<void> {
  let stale: string[];
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database d
        WHERE datname LIKE 'hooksync\\_bench\\_%'
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)
          AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '1 hour'`,
    );
    stale = rows.map((r) => r.datname);
  } catch {
    return;
  }
  for (const name of stale) {
    log(`dropping ${name}, left by an earlier run`);
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`).catch(() => {});
  }
}

/** A fresh database hooksync_bench_<random>: on DATABASE_URL's server, the local one, or an embedded PostgreSQL. */
export async function benchDatabase(res: Resources, log: (msg: string) => void): Promise<Database> {
  const server = await findServer({ embeddedDir: path.join(stateDir, 'bench-postgres'), log });
  if (server.stop) res.add('embedded PostgreSQL', server.stop, 3);
  await withAdmin(server.adminUrl, (admin) => dropStaleDatabases(admin, log));
  const db = await createDatabase(server.adminUrl, 'hooksync_bench');
  res.add(`database ${db.name}`, db.drop, 2);
  const where = { DATABASE_URL: "DATABASE_URL's server", 'local server': '127.0.0.1:5432', embedded: 'embedded' }[server.source] ?? server.source;
  return { url: db.url, name: db.name, server: where, version: server.version };
}

export async function benchTemporal(res: Resources, logDir: string, log: (msg: string) => void): Promise<string> {
  // As `hooksync dev` runs it (its SQLite file, its Web UI, hooksync's search attributes), on free
  // ports: picked free, then bound by the server, so another process may take one in between.
  const start = () => startTemporalDevServer({ port: 0, uiPort: 0, dbFile: path.join(logDir, 'temporal.db'), logFile: path.join(logDir, 'temporal.log'), log });
  let server: Awaited<ReturnType<typeof start>> | undefined;
  for (let attempt = 1; !server; attempt++) {
    server = await start().catch((err: Error) => {
      if (attempt >= 3 || !/address already in use/.test(err.message)) throw err;
      log(`the Temporal dev server lost a port it was given to another process; starting it again`);
      return undefined;
    });
  }
  res.add('Temporal dev server', server.stop, 2);
  return server.address;
}

export interface HooksyncProcesses {
  api: Child;
  worker: Child;
  apiUrl: string;
  /** The API's /metrics (never on the API port). */
  metricsUrl: string;
  /** Peak RSS (bytes) once ready, before any load: start-up's own share (the worker bundles its workflows). */
  readyPeakRss: { api?: number; worker?: number };
}

export interface ProcessOptions {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  logDir: string;
  /** V8 CPU profiles of the API and the worker go here (`--cpu-prof`), written when they stop. */
  profileDir?: string;
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
  const metricsPort = await freePort('127.0.0.1');
  const env = childEnv({
    DATABASE_URL: opts.databaseUrl,
    TEMPORAL_ADDRESS: opts.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    HOOKSYNC_TASK_QUEUE: opts.taskQueue,
    HOOKSYNC_ALLOW_HTTP: '0',
    LOG_LEVEL: 'info',
  });
  const cli = path.join(__dirname, '..', '..', 'bin', 'hooksync.js');
  const profile = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : [];
  // Each process connects under its own application_name, so its PostgreSQL backends can be measured.
  const worker = spawnNode({
    name: 'worker',
    args: [...profile, cli, 'worker'],
    env: { ...env, DATABASE_URL: withApplicationName(opts.databaseUrl, 'worker') },
    logDir: opts.logDir,
  });
  res.add('worker', () => worker.stop());
  const api = spawnNode({
    name: 'api',
    args: [...profile, cli, 'api'],
    env: { ...env, PORT: String(port), HOOKSYNC_METRICS_PORT: String(metricsPort), DATABASE_URL: withApplicationName(opts.databaseUrl, 'api') },
    logDir: opts.logDir,
  });
  res.add('api', () => api.stop());
  await Promise.all([worker.waitForOutput(/worker running/, 120_000), api.waitForOutput(/api listening/, 60_000)]);
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitReady(`${apiUrl}/readyz`, 30_000);
  return { api, worker, apiUrl, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, readyPeakRss: { api: api.memory()?.peakRss, worker: worker.memory()?.peakRss } };
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
  const pool = createPool(withApplicationName(databaseUrl, 'bench'), 4);
  const temporal = connectTemporal(temporalAddress, 'default');
  res.add(
    'service layer connections',
    async () => {
      await Promise.allSettled([pool.end(), temporal.close()]);
    },
    2,
  );
  return { pool, temporal, config };
}

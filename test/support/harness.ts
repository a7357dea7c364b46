import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type pg from 'pg';
import { createApp, type HooksyncApp } from '../../src/api/app';
import { apiMetrics } from '../../src/api/backlog-metrics';
import { createApiServer } from '../../src/api/request-guard';
import { loadConfig, type Config } from '../../src/config';
import { createPool } from '../../src/db/pool';
import { serveMetrics, type MetricsServer } from '../../src/metrics-server';
import { trackRetryState } from '../../src/metrics';
import type { ServiceDeps } from '../../src/services/deps';
import { connectTemporal, type TemporalHandle } from '../../src/temporal/client';
import { startInboxSweeper, type InboxSweeper } from '../../src/worker/inbox-sweeper';
import { ingestSettings } from '../../src/temporal/ingest-wake';
import { superviseReconciler } from '../../src/temporal/reconciler';
import { createWorker } from '../../src/worker/worker';
import { logger } from '../../src/log';
import { createDatabase } from './database';
import { keyringOf } from '../../src/services/keyring-startup';
import { Client } from '@temporalio/client';

/**
 * One test file's hooksync: its own pool, Temporal client, API and worker, against the services
 * bin/run-tests.js shares between files. Each stack has its own task queue, so concurrent test
 * files never run each other's workflows or activities.
 */
export interface Stack {
  pool: pg.Pool;
  temporal: TemporalHandle;
  config: Config;
  deps: ServiceDeps;
  /** http://127.0.0.1:<port> of the API; throws when the stack was started with `api: false`. */
  apiUrl: string;
  /** http://127.0.0.1:<port>/metrics: the API's metrics, on their own port as in production. */
  metricsUrl: string;
  /** Starts the worker if it is not running (e.g. again after stopWorker, to play a restart). */
  startWorker(): Promise<void>;
  /** Shuts the worker down and waits until it has stopped; rejects if it had failed. */
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface StackOptions {
  worker?: boolean;
  api?: boolean;
  /** Overrides for the environment the config is read from, e.g. HOOKSYNC_INGEST_SHARDS. */
  env?: Record<string, string>;
  /**
   * Run the reconciler (self-repair) with the worker, as `hooksync worker` does. Off by default:
   * test files share one database, and a reconciler repairs every target in it.
   */
  reconciler?: boolean;
}

const NEEDED = ['DATABASE_URL', 'TEMPORAL_ADDRESS'] as const;
const openStacks = new Set<Stack>();
let signalsHooked = false;

/**
 * The Temporal runtime catches SIGINT/SIGTERM to shut workers down, so a test process would keep
 * running after Ctrl-C; close what is open (briefly) and exit instead.
 */
function exitOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      const closing = Promise.allSettled([...openStacks].map((s) => s.close()));
      void Promise.race([closing, new Promise((r) => setTimeout(r, 3_000))]).then(() => process.exit(130));
    });
  }
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const missing = NEEDED.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(`${missing.join(' and ')} not set: run the tests with \`npm test\` (or \`npm test -- <file>\`), which starts the services`);
  }
  const taskQueue = `test-${crypto.randomBytes(6).toString('hex')}`;
  const config = loadConfig({ ...process.env, HOOKSYNC_TASK_QUEUE: taskQueue, ...opts.env });
  const pool = createPool(config.DATABASE_URL, 20);
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  // As the processes do: HOOKSYNC_ENCRYPTION_KEY (when a test gives one) seals and opens the stored secrets.
  const keyring = keyringOf(config);
  const deps: ServiceDeps = { pool, temporal, config, keyring };

  let server: http.Server | undefined;
  let app: HooksyncApp | undefined;
  let apiUrl: string | undefined;
  let metrics: MetricsServer | undefined;
  if (opts.api !== false) {
    app = createApp(deps);
    server = createApiServer(app.callback());
    // As `hooksync api` does: /metrics reads the targets' retry state from this stack's database.
    trackRetryState(pool);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(0, '127.0.0.1', resolve);
    });
    apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    metrics = await serveMetrics({ host: '127.0.0.1', port: 0 }, apiMetrics(pool));
  }

  type RunningWorker = {
    worker: Worker;
    connection: NativeConnection;
    sweeper: InboxSweeper;
    done: Promise<void>;
    failure?: Error;
    stopReconciler?: () => void;
  };
  let running: RunningWorker | undefined;
  const startWorker = async () => {
    if (running) return;
    const { worker, connection } = await createWorker({
      pool,
      databaseUrl: config.DATABASE_URL,
      keyring,
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue,
      historyLimit: config.HOOKSYNC_HISTORY_LIMIT,
      workflowBundlePath: process.env.HOOKSYNC_TEST_WORKFLOW_BUNDLE,
    });
    // As the worker process does: the inbox sweep beside the worker.
    const sweeper = startInboxSweeper({ pool, client: temporal.client, settings: ingestSettings(config), logger });
    const entry: RunningWorker = { worker, connection, sweeper, done: Promise.resolve() };
    if (opts.reconciler) {
      const stop = superviseReconciler(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), { taskQueue, historyLimit: config.HOOKSYNC_HISTORY_LIMIT });
      entry.stopReconciler = stop;
    }
    entry.done = worker.run().catch((err: Error) => {
      // Loud at once: a test waiting on a dead worker would otherwise only time out.
      console.error(`[harness] the worker of task queue ${taskQueue} failed:`, err);
      entry.failure = err;
    });
    running = entry;
  };
  const stopWorker = async () => {
    const r = running;
    if (!r) return;
    running = undefined;
    r.stopReconciler?.();
    if (r.worker.getState() === 'RUNNING') r.worker.shutdown();
    await r.done;
    await r.sweeper.stop();
    await r.connection.close().catch(() => {});
    if (r.failure) throw r.failure;
  };

  const stack: Stack = {
    pool,
    temporal,
    config,
    deps,
    get apiUrl(): string {
      if (!apiUrl) throw new Error('this stack was started with api: false');
      return apiUrl;
    },
    get metricsUrl(): string {
      if (!metrics) throw new Error('this stack was started with api: false');
      return metrics.url;
    },
    startWorker,
    stopWorker,
    async close() {
      openStacks.delete(stack);
      const failures: unknown[] = [];
      await stopWorker().catch((err) => failures.push(err));
      if (server) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
        await app!.ingest.close();
      }
      await metrics?.close();
      await temporal.close().catch(() => {});
      await pool.end().catch(() => {});
      if (failures.length > 0) throw failures[0];
    },
  };
  exitOnSignals();
  openStacks.add(stack);
  try {
    if (opts.worker !== false) await startWorker();
  } catch (err) {
    await stack.close().catch(() => {});
    throw err;
  }
  return stack;
}

/** Polls `fn` until it returns something other than undefined or false; errors it throws are retried. */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? `; the last attempt threw: ${(lastError as Error).message ?? String(lastError)}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'a condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

/**
 * A database of its own (migrated), on the server the tests use, for a test whose reconciler
 * repairs every target it finds: in the shared database it would touch other files' targets.
 */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL not set: run the tests with `npm test`');
  return createDatabase(base, new URL(base).pathname.slice(1), 3);
}

import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import type pg from 'pg';
import type { Keyring } from '../secrets/keyring';
import { createActivities } from '../activities';
import type { LingeringDrains } from '../activities/lingering-drains';
import { logger } from '../log';
import { compiled } from '../package-info';
import type { TemporalAccess } from '../temporal/access';
import { temporalLogger } from '../temporal/logger';

export interface WorkerOptions {
  pool: pg.Pool;
  /** The database of `pool` (the inbox applies open a pool of their own to it). */
  databaseUrl: string;
  /** HOOKSYNC_ENCRYPTION_KEY's keyring, for the activities that open stored secrets. */
  keyring?: Keyring;
  /** The process's lingering drains (default: made for `pool`), when the process tells them of other workers' rows. */
  drains?: LingeringDrains;
  address: string;
  namespace: string;
  taskQueue: string;
  access?: TemporalAccess;
  /** A prebuilt workflow bundle; otherwise dist/'s (compiled code), or else the sources are bundled at start. */
  /** HOOKSYNC_HISTORY_LIMIT, for the workflows the repairs start. */
  historyLimit?: number;
  /** A prebuilt workflow bundle (tests build one per run); otherwise the sources are bundled at start. */
  workflowBundlePath?: string;
  /** After shutdown() is called: how long activities may finish before they are cancelled (default 5 s). */
  shutdownGraceMs?: number;
  /** After shutdown(): when run() gives up waiting and rejects (default: none). */
  shutdownForceMs?: number;
}

let runtimeInstalled: { sdkMetrics?: string } | undefined;

/**
 * The process-wide Temporal runtime, installed once and before any connection. With `sdkMetrics`,
 * the SDK's Prometheus metrics are served at that address (the worker's metrics server merges them
 * into its own page).
 */
export function installRuntime(opts: { sdkMetrics?: string } = {}): void {
  if (runtimeInstalled) {
    if (opts.sdkMetrics && runtimeInstalled.sdkMetrics !== opts.sdkMetrics) {
      throw new Error('the Temporal runtime is already installed without SDK metrics');
    }
    return;
  }
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'worker' })),
    // Our processes decide what SIGINT/SIGTERM mean (finish, then close everything).
    shutdownSignals: [],
    telemetryOptions: {
      // Core's own logs only when they matter; ours are pino JSON on stderr.
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(opts.sdkMetrics ? { metrics: { prometheus: { bindAddress: opts.sdkMetrics, useSecondsForDurations: true } } } : {}),
    },
  });
  runtimeInstalled = { sdkMetrics: opts.sdkMetrics };
}

/** The worker: runs the workflows of src/workflows and the activities of src/activities. */
export async function createWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  installRuntime();
  const connection = await NativeConnection.connect({ address: opts.address, tls: opts.access?.tls, apiKey: opts.access?.apiKey });
  const bundle = opts.workflowBundlePath ?? prebuiltBundlePath();
  try {
    const worker = await Worker.create({
      connection,
      namespace: opts.namespace,
      taskQueue: opts.taskQueue,
      activities: createActivities({
        pool: opts.pool,
        databaseUrl: opts.databaseUrl,
        keyring: opts.keyring,
        drains: opts.drains,
        // The repairs start and signal workflows through the worker's own connection.
        temporal: { client: new Client({ connection, namespace: opts.namespace }), taskQueue: opts.taskQueue, historyLimit: opts.historyLimit },
      }),
      ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: workflowsPath() }),
      // Deliveries hold a connection of the pool each (60 in `hooksync worker`); those of on-insert
      // targets may wait for rows up to a second after their last page, but only while the pool
      // has connections to spare (lingering-drains.ts), so up to 80 run at once.
      maxConcurrentActivityTaskExecutions: 80,
      maxConcurrentLocalActivityExecutions: 50,
      shutdownGraceTime: opts.shutdownGraceMs ?? 5_000,
      ...(opts.shutdownForceMs !== undefined ? { shutdownForceTime: opts.shutdownForceMs } : {}),
    });
    return { worker, connection };
  } catch (err) {
    await connection.close().catch(() => {});
    throw err;
  }
}

export function workflowsPath(): string {
  return path.join(__dirname, '..', 'workflows', compiled ? 'index.js' : 'index.ts');
}

/** `npm run build` bundles the workflows into dist/; the compiled worker loads that in a moment. */
export function prebuiltBundlePath(): string | undefined {
  if (!compiled) return undefined;
  const file = path.join(__dirname, '..', '..', 'workflow-bundle.js');
  return fs.existsSync(file) ? file : undefined;
}

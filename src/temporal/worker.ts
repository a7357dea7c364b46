import path from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString } from '@temporalio/worker';
import type pg from 'pg';
import { createActivities } from '../activities';
import { logger } from '../log';
import { temporalLogger } from './logger';

export interface WorkerOptions {
  pool: pg.Pool;
  address: string;
  namespace: string;
  taskQueue: string;
  /** HOOKSYNC_HISTORY_LIMIT, for the workflows the repairs start. */
  historyLimit?: number;
  /** A prebuilt workflow bundle (tests build one per run); otherwise the sources are bundled at start. */
  workflowBundlePath?: string;
}

let runtimeInstalled = false;

/** The worker: runs the workflows of src/workflows and the activities of src/activities. */
export async function createWorker(opts: WorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  if (!runtimeInstalled) {
    // Core's own logs only when they matter; ours are pino JSON on stderr.
    Runtime.install({
      logger: temporalLogger(logger.child({ component: 'worker' })),
      // Our processes decide what SIGINT/SIGTERM mean (finish, then close everything).
      shutdownSignals: [],
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
    });
    runtimeInstalled = true;
  }
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities({
      pool: opts.pool,
      // The repairs start and signal workflows through the worker's own connection.
      temporal: { client: new Client({ connection, namespace: opts.namespace }), taskQueue: opts.taskQueue, historyLimit: opts.historyLimit },
    }),
    ...(opts.workflowBundlePath
      ? { workflowBundle: { codePath: opts.workflowBundlePath } }
      : { workflowsPath: workflowsPath() }),
    // Deliveries hold a connection each; keep them below the pool size.
    maxConcurrentActivityTaskExecutions: 50,
    maxConcurrentLocalActivityExecutions: 50,
    shutdownGraceTime: '5 seconds',
  });
  return { worker, connection };
}

export function workflowsPath(): string {
  return path.join(__dirname, '..', 'workflows', 'index.ts');
}

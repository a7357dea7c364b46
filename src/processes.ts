import type { AddressInfo } from 'node:net';
import { createApp } from './api/app';
import { apiMetrics } from './api/backlog-metrics';
import { createApiServer } from './api/request-guard';
import type { Config } from './config';
import { createPool } from './db/pool';
import { allowTargets } from './http/address-guard';
import { logger } from './log';
import { registry } from './metrics';
import { serveMetrics } from './metrics-server';
import { connectTemporal, ensureSearchAttributes } from './temporal/client';
import { createWorker } from './temporal/worker';

/** The long-running parts, shared by `hooksync api`, `hooksync worker`, `hooksync dev` and the benchmarks. */

export interface Running {
  close(): Promise<void>;
}

export async function startApi(config: Config, opts: { host?: string } = {}): Promise<Running & { url: string; metricsUrl?: string }> {
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const pool = createPool(config.DATABASE_URL, 20);
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  const app = createApp({ pool, temporal, config });
  const server = createApiServer(app.callback());
  // /metrics is never on the API port: on HOOKSYNC_METRICS_PORT (127.0.0.1 unless a host is given), or nowhere.
  const metrics = config.HOOKSYNC_METRICS_PORT ? await serveMetrics(config.HOOKSYNC_METRICS_PORT, apiMetrics(pool)) : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, opts.host ?? '0.0.0.0', resolve);
  }).catch(async (err) => {
    await metrics?.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'api listening');
  if (metrics) logger.info({ url: metrics.url }, 'metrics served');
  return {
    url: `http://localhost:${port}`,
    metricsUrl: metrics?.url,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await metrics?.close();
      await Promise.allSettled([pool.end(), temporal.close()]);
    },
  };
}

export async function startWorkerProcess(config: Config, opts: { workflowBundlePath?: string } = {}): Promise<Running & { done: Promise<void> }> {
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const pool = createPool(config.DATABASE_URL, 60);
  await registerSearchAttributes(config);
  const { worker, connection } = await createWorker({
    pool,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.HOOKSYNC_TASK_QUEUE,
    workflowBundlePath: opts.workflowBundlePath,
  });
  const metricsServer = config.HOOKSYNC_WORKER_METRICS_PORT ? await serveMetrics({ port: config.HOOKSYNC_WORKER_METRICS_PORT }, [() => registry.metrics()]) : undefined;
  if (metricsServer) logger.info({ url: metricsServer.url }, 'worker metrics served');
  const done = worker.run().finally(async () => {
    await metricsServer?.close();
    await Promise.allSettled([connection.close(), pool.end()]);
  });
  logger.info({ taskQueue: config.HOOKSYNC_TASK_QUEUE }, 'worker running');
  return {
    done,
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch(() => {});
    },
  };
}

/** Best effort: a namespace where we may not add attributes (Temporal Cloud) gets them from its admin. */
export async function registerSearchAttributes(config: Config): Promise<void> {
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  try {
    await ensureSearchAttributes(temporal.connection, config.TEMPORAL_NAMESPACE);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not register the search attributes HooksyncTargetId and HooksyncIntegrationId (see README)');
  } finally {
    await temporal.close();
  }
}

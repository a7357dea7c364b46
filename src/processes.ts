import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './api/app';
import type { Config } from './config';
import { createPool } from './db/pool';
import { logger } from './log';
import { registry } from './metrics';
import { connectTemporal, ensureSearchAttributes } from './temporal/client';
import { startInboxSweeper } from './temporal/inbox-sweeper';
import { ingestSettings } from './temporal/ingest-wake';
import { createWorker } from './temporal/worker';

/** The long-running parts, shared by `hooksync api`, `hooksync worker`, `hooksync dev` and the benchmarks. */

export interface Running {
  close(): Promise<void>;
}

export async function startApi(config: Config, opts: { host?: string } = {}): Promise<Running & { url: string }> {
  const pool = createPool(config.DATABASE_URL, 20);
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  const app = createApp({ pool, temporal, config });
  const server = http.createServer(app.callback());
  // Upstreams reuse connections; keep them longer than common proxies' idle timeouts.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, opts.host ?? '0.0.0.0', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'api listening');
  return {
    url: `http://localhost:${port}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await app.ingest.close();
      await Promise.allSettled([pool.end(), temporal.close()]);
    },
  };
}

export async function startWorkerProcess(config: Config, opts: { workflowBundlePath?: string } = {}): Promise<Running & { done: Promise<void> }> {
  const pool = createPool(config.DATABASE_URL, 60);
  await registerSearchAttributes(config);
  const { worker, connection } = await createWorker({
    pool,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.HOOKSYNC_TASK_QUEUE,
    workflowBundlePath: opts.workflowBundlePath,
  });
  const metricsServer = config.HOOKSYNC_WORKER_METRICS_PORT ? await serveMetrics(config.HOOKSYNC_WORKER_METRICS_PORT) : undefined;
  // Wakes shards whose inbox rows lost their wake-up (Temporal down after the commit, an API gone).
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE);
  const sweeper = startInboxSweeper({ pool, client: temporal.client, settings: ingestSettings(config), logger });
  const done = worker.run().finally(async () => {
    metricsServer?.close();
    await sweeper.stop();
    await Promise.allSettled([temporal.close(), connection.close(), pool.end()]);
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

async function serveMetrics(port: number): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  logger.info({ port }, 'worker metrics at /metrics');
  return server;
}

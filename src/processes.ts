import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './api/app';
import { apiMetrics } from './api/backlog-metrics';
import { createApiServer } from './api/request-guard';
import type { Config } from './config';
import { createPool } from './db/pool';
import { freePort } from './ports';
import { allowTargets } from './http/address-guard';
import { logger } from './log';
import { registry, trackRetryState } from './metrics';
import { serveMetrics } from './metrics-server';
import { prepareKeyring } from './services/keyring-startup';
import { temporalAccess } from './temporal/access';
import { connectTemporal, ensureSearchAttributes } from './temporal/client';
import { startInboxSweeper } from './worker/inbox-sweeper';
import { checkAtStart } from './worker/start-checks';
import { ingestSettings } from './temporal/ingest-wake';
import { superviseReconciler } from './temporal/reconciler';
import { createWorker, installRuntime } from './worker/worker';
import { lingeringDrainsFor } from './activities/lingering-drains';
import { listenForDrainNotices } from './db/drain-notices';
import { Client } from '@temporalio/client';

/** The long-running parts, shared by `hooksync api`, `hooksync worker`, `hooksync dev` and the benchmarks. */

export interface Running {
  /**
   * Stops taking work, lets the work in hand finish within the grace period, then releases
   * everything. Resolves with what had to be cut short, if anything.
   */
  close(): Promise<string | void>;
}

const graceMs = (config: Config) => config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS * 1000;

export async function startApi(config: Config, opts: { host?: string } = {}): Promise<Running & { url: string; metricsUrl?: string }> {
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const pool = createPool(config.DATABASE_URL, 20);
  // Before anything is served: without the key of the secrets stored, this process could verify no webhook.
  const keyring = await prepareKeyring(config, pool, { sealClear: true, startUnreachable: true, logger }).catch(async (err) => {
    await pool.end();
    throw err;
  });
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, temporalAccess(config));
  trackRetryState(pool);
  const app = createApp({ pool, temporal, config, keyring });
  const handle = app.callback();
  let closing = false;
  const inFlight = new Set<http.ServerResponse>();
  const server = createApiServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    // While stopping, every answer closes its connection, so keep-alive clients go elsewhere.
    if (closing) res.setHeader('connection', 'close');
    void handle(req, res);
  });
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
      closing = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let cutOff: string | undefined;
      if (inFlight.size > 0) logger.info({ requests: inFlight.size }, 'api: no new connections; finishing the requests in flight');
      const timer = setTimeout(() => {
        cutOff = `${inFlight.size} request(s) still unanswered after ${config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS} s`;
        logger.warn({ requests: inFlight.size }, 'api: grace period over, closing the connections of unfinished requests');
        server.closeAllConnections();
      }, graceMs(config));
      await closed;
      clearTimeout(timer);
      await metrics?.close();
      await app.ingest.close();
      await Promise.allSettled([pool.end(), temporal.close()]);
      return cutOff;
    },
  };
}

export async function startWorkerProcess(config: Config, opts: { workflowBundlePath?: string } = {}): Promise<Running & { done: Promise<void> }> {
  allowTargets(config.HOOKSYNC_ALLOWED_TARGET_HOSTS);
  const metricsPort = config.HOOKSYNC_WORKER_METRICS_PORT;
  // The SDK serves its metrics on a private port; ours merges them into one page on metricsPort.
  const sdkMetrics = metricsPort === undefined ? undefined : `127.0.0.1:${await freePort('127.0.0.1')}`;
  installRuntime({ sdkMetrics });
  const pool = createPool(config.DATABASE_URL, 60);
  // Before any task is taken: without the key of the secrets stored, no delivery could be made.
  const keyring = await prepareKeyring(config, pool, { sealClear: true, startUnreachable: true, logger }).catch(async (err) => {
    await pool.end();
    throw err;
  });
  await registerSearchAttributes(config);
  const grace = graceMs(config);
  const drains = lingeringDrainsFor(pool);
  const { worker, connection } = await createWorker({
    pool,
    databaseUrl: config.DATABASE_URL,
    keyring,
    drains,
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.HOOKSYNC_TASK_QUEUE,
    access: temporalAccess(config),
    historyLimit: config.HOOKSYNC_HISTORY_LIMIT,
    workflowBundlePath: opts.workflowBundlePath,
    // Activities first get most of the grace period to finish; then they are cancelled (a delivery
    // stops at its last 2xx and the workflow goes on from there), and at its end the worker gives up.
    shutdownGraceMs: Math.max(grace - 5_000, grace / 2),
    shutdownForceMs: grace,
  });
  const metricsServer =
    metricsPort === undefined
      ? undefined
      : await serveMetrics({ port: metricsPort }, [() => registry.metrics(), sdkMetricsSource(sdkMetrics!)], {
          healthy: () => worker.getState() === 'RUNNING',
        });
  if (metricsServer) logger.info({ url: metricsServer.url }, 'worker metrics (hooksync and Temporal SDK) served, health at /healthz');
  // Drains of on-insert targets here hear of the rows other workers apply for them.
  const notices = listenForDrainNotices(config.DATABASE_URL, (id) => void drains.notify(id), logger);
  trackRetryState(pool);
  // Self-repair: the start-up checks, then the reconciler runs its repairs now and every minute.
  await checkAtStart(pool, logger);
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const stopSupervising = superviseReconciler(client, {
    taskQueue: config.HOOKSYNC_TASK_QUEUE,
    historyLimit: config.HOOKSYNC_HISTORY_LIMIT,
  });
  // Wakes shards whose inbox rows lost their wake-up (Temporal down after the commit, an API gone).
  const sweeper = startInboxSweeper({ pool, client, settings: ingestSettings(config), logger });
  let cutOff: string | undefined;
  let stopping = false;
  const done = worker
    .run()
    .catch((err: Error) => {
      // After a requested shutdown, once its tasks are handed back, the SDK's core may find a call
      // of its own still holding the worker when it frees it (a rare race of its finalization):
      // the worker has stopped all the same, so this is not a failed exit.
      if (stopping && /Worker still in use/.test(err.message)) {
        logger.warn({ err: err.message }, 'worker: stopped; the Temporal SDK could not free it cleanly');
        return;
      }
      if (err.name !== 'GracefulShutdownPeriodExpiredError') throw err;
      cutOff = `activities still running after ${config.HOOKSYNC_SHUTDOWN_GRACE_SECONDS} s`;
      logger.warn('worker: grace period over with activities still running; Temporal hands them to another worker');
    })
    .finally(async () => {
      stopSupervising();
      await metricsServer?.close();
      await sweeper.stop();
      await Promise.allSettled([connection.close(), pool.end(), notices.close()]);
    });
  logger.info({ taskQueue: config.HOOKSYNC_TASK_QUEUE }, 'worker running');
  return {
    done,
    async close() {
      if (worker.getState() === 'RUNNING') {
        logger.info('worker: no new tasks; letting the activities in hand finish');
        stopping = true;
        worker.shutdown();
      }
      await done.catch(() => {});
      return cutOff;
    },
  };
}

/** Best effort: a namespace where we may not add attributes (Temporal Cloud) gets them from its admin. */
export async function registerSearchAttributes(config: Config): Promise<void> {
  const temporal = connectTemporal(config.TEMPORAL_ADDRESS, config.TEMPORAL_NAMESPACE, temporalAccess(config));
  try {
    await ensureSearchAttributes(temporal.connection, config.TEMPORAL_NAMESPACE);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not register the search attributes HooksyncTargetId and HooksyncIntegrationId (see README)');
  } finally {
    await temporal.close();
  }
}

/** The Temporal SDK's own Prometheus page (temporal_*), from its private port. */
function sdkMetricsSource(address: string) {
  return () =>
    fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) => (r.ok ? r.text() : ''));
}

import type pg from 'pg';
import client from 'prom-client';
import { retryStates, type TargetRetryRow } from './db/targets';

/**
 * Process-wide Prometheus metrics. The API serves them at /metrics; a separate worker serves its
 * own on HOOKSYNC_WORKER_METRICS_PORT. `hooksync dev` runs both in one process, so one page.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'hooksync_' });

export const eventsReceived = new client.Counter({
  name: 'hooksync_events_received_total',
  help: 'Webhook requests received, per integration service',
  labelNames: ['service'],
  registers: [registry],
});
export const eventsAccepted = new client.Counter({
  name: 'hooksync_events_accepted_total',
  help: 'Webhook events written into the ingest inbox (answered 2xx once committed)',
  labelNames: ['service'],
  registers: [registry],
});
export const eventsRejected = new client.Counter({
  name: 'hooksync_events_rejected_total',
  help: 'Webhook requests refused, by reason',
  labelNames: ['reason'],
  registers: [registry],
});
export const eventsIgnored = new client.Counter({
  name: 'hooksync_events_ignored_total',
  help: 'Verified events of a type the integration does not handle (acknowledged)',
  labelNames: ['service'],
  registers: [registry],
});
export const eventsApplied = new client.Counter({
  name: 'hooksync_events_applied_total',
  help: 'Events taken from the inbox, by outcome: applied, discarded (older or unchanged) or dead_lettered',
  labelNames: ['outcome'],
  registers: [registry],
});
export const inboxInsertRows = new client.Histogram({
  name: 'hooksync_inbox_insert_rows',
  help: 'Events per INSERT into the ingest inbox (concurrent requests of one shard go together)',
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
  registers: [registry],
});
export const ingestWakeups = new client.Counter({
  name: 'hooksync_ingest_wakeups_total',
  help: 'Wake-ups of ingest workflows sent by the API, by outcome (a failed one is retried; its events wait in the inbox)',
  labelNames: ['outcome'],
  registers: [registry],
});
export const targetSignals = new client.Counter({
  name: 'hooksync_target_signals_total',
  help: 'rowsChanged wake-ups of on-insert targets, by outcome: sent, failed (logged; the target syncs at its next period) or skipped (not needed: the target drained past the rows, is retrying or paused)',
  labelNames: ['outcome'],
  registers: [registry],
});
export const rowsDelivered = new client.Counter({
  name: 'hooksync_rows_delivered_total',
  help: 'Rows delivered to HTTP Sync targets (answered 2xx)',
  labelNames: ['target', 'integration'],
  registers: [registry],
});
export const pagesDelivered = new client.Counter({
  name: 'hooksync_pages_delivered_total',
  help: 'Pages delivered to HTTP Sync targets (answered 2xx)',
  labelNames: ['target', 'integration'],
  registers: [registry],
});
export const deliveryFailures = new client.Counter({
  name: 'hooksync_delivery_failures_total',
  help: 'Failed POST attempts to HTTP Sync targets, by reason (http_<status>, timeout, network, refused); each one is retried',
  labelNames: ['target', 'integration', 'reason'],
  registers: [registry],
});
export const postLatency = new client.Histogram({
  name: 'hooksync_post_duration_seconds',
  help: 'Duration of HTTP Sync POSTs, successful or not',
  labelNames: ['target', 'integration'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

/** The `reason` label of a failed POST: a bounded set, never the (free-text) error message. */
export function failureReason(outcome: { status?: number; error?: string; refused?: boolean }): string {
  if (outcome.status) return `http_${outcome.status}`;
  if (outcome.refused) return 'refused';
  return /^no response/.test(outcome.error ?? '') ? 'timeout' : 'network';
}

/** Where the retry gauges below read from: the latest pool given (one per process in production). */
let retrySource: pg.Pool | undefined;
let retryRead: Promise<TargetRetryRow[]> | undefined;
const readRetryState = () =>
  (retryRead ??= (async () => {
    try {
      if (!retrySource) return [];
      return await retryStates(retrySource);
    } catch {
      // Without the database the other metrics still answer.
      return [];
    } finally {
      retryRead = undefined;
    }
  })());

/**
 * The retry state of every target, read from the database at scrape time (each failed attempt
 * is recorded there, each 2xx clears it), so that it is right whichever worker delivers.
 */
export function trackRetryState(pool: pg.Pool): void {
  retrySource = pool;
}

new client.Gauge({
  name: 'hooksync_delivery_retry_attempts',
  help: 'Failed delivery attempts in a row per HTTP Sync target (0 once a page is answered 2xx)',
  labelNames: ['target', 'integration'],
  registers: [registry],
  async collect() {
    const rows = await readRetryState();
    this.reset();
    for (const r of rows) this.set({ target: r.id, integration: r.integration_id }, r.attempts);
  },
});
new client.Gauge({
  name: 'hooksync_delivery_next_attempt_timestamp_seconds',
  help: 'When the next delivery attempt of a retrying HTTP Sync target is due (Unix time; absent when not retrying)',
  labelNames: ['target', 'integration'],
  registers: [registry],
  async collect() {
    const rows = await readRetryState();
    this.reset();
    for (const r of rows) if (r.attempts > 0 && r.next_at !== null) this.set({ target: r.id, integration: r.integration_id }, r.next_at);
  },
});

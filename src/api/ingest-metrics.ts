import client from 'prom-client';
import type pg from 'pg';
import { ingestFigures, type IntegrationIngestFigures } from '../db/inbox';

/**
 * The inbox's depth and the dead letters per integration, read from PostgreSQL at scrape time
 * (one query per scrape, shared by the gauges), so any API instance reports them, also while no
 * worker runs, which is when they matter most.
 */
export function registerIngestGauges(registry: client.Registry, pool: pg.Pool): void {
  let reading: Promise<IntegrationIngestFigures[]> | undefined;
  const read = () => (reading ??= ingestFigures(pool).finally(() => (reading = undefined)));
  const gauge = (name: string, help: string, value: (f: IntegrationIngestFigures) => number) =>
    new client.Gauge({
      name,
      help,
      labelNames: ['integration'],
      registers: [registry],
      async collect() {
        const figures = await read();
        this.reset();
        for (const f of figures) this.set({ integration: f.integrationId }, value(f));
      },
    });
  gauge('hooksync_inbox_events', 'Events waiting in the ingest inbox (accepted, not applied yet)', (f) => f.waiting);
  gauge('hooksync_inbox_oldest_age_seconds', 'Age of the oldest event waiting in the ingest inbox (0 when none waits)', (f) => Math.round(f.oldestAgeSeconds * 1000) / 1000);
  gauge('hooksync_dead_letters', 'Events the upsert could not apply, kept with their error (see `hooksync integrations retry-failed`)', (f) => f.deadLetters);
}

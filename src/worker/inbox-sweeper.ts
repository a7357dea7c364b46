import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createSweepInbox, SWEEP_AGE_SECONDS } from './sweep-inbox';
import type { Logger } from '../log';
import type { IngestSettings } from '../temporal/ingest-wake';
import { safeErrorText } from '../db/pg-error';

export const SWEEP_INTERVAL_MS = 5_000;

export interface InboxSweeper {
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/**
 * The worker process's small periodic trigger for the inbox sweep (sweep-inbox.ts): once at start,
 * then every few seconds, never two at a time. A failing sweep is logged once per streak and tried
 * again on the next tick.
 */
export function startInboxSweeper(opts: {
  pool: pg.Pool;
  client: Client;
  settings: IngestSettings;
  logger: Logger;
  intervalMs?: number;
  olderThanSeconds?: number;
}): InboxSweeper {
  const sweep = createSweepInbox({ pool: opts.pool, client: opts.client, settings: opts.settings });
  const log = opts.logger.child({ component: 'inbox-sweep' });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;

  const tick = async () => {
    try {
      const r = await sweep({ olderThanSeconds: opts.olderThanSeconds ?? SWEEP_AGE_SECONDS });
      if (r.woken.length || r.failed.length || r.orphaned) log.info(r, 'inbox sweep woke shards whose rows were waiting');
      if (failing) log.info('inbox sweep works again');
      failing = false;
    } catch (err) {
      if (!failing) log.warn({ err: safeErrorText(err) }, 'inbox sweep failed; trying again');
      failing = true;
    }
  };
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule(opts.intervalMs ?? SWEEP_INTERVAL_MS);
      });
    }, ms);
    timer.unref();
  };
  schedule(0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

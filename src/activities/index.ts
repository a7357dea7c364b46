import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Keyring } from '../secrets/keyring';
import { createApplyInbox } from './apply-inbox';
import { createDeliverPages } from './deliver-pages';
import { createFetchBackfillPages } from './fetch-backfill-pages';
import { createRunRepairs } from './run-repairs';
import { safeFailures } from './safe-failures';
import { TargetWakeups } from './target-wakeups';
import { lingeringDrainsFor, type LingeringDrains } from './lingering-drains';

export interface ActivityDeps {
  pool: pg.Pool;
  /** The database the pool connects to: the inbox applies open their own, stricter pool to it. */
  databaseUrl: string;
  /** Opens the secrets stored in PostgreSQL (HOOKSYNC_ENCRYPTION_KEY); undefined without a key. */
  keyring?: Keyring;
  /** For the repairs, which start and signal workflows. */
  temporal: { client: Client; taskQueue: string; historyLimit?: number };
  /** The process's lingering drains, when it also hears of other workers' rows for them (drain-notices.ts). */
  drains?: LingeringDrains;
}

/**
 * All I/O of the workflows. Workflows import this module's type only. What they throw reaches
 * Temporal without PostgreSQL's data (safe-failures.ts).
 */
export function createActivities(deps: ActivityDeps) {
  // One per worker process: the drains of on-insert targets that the applies hand rows to
  // (lingering-drains.ts), and the wake-ups of the others, coalesced.
  const drains = deps.drains ?? lingeringDrainsFor(deps.pool);
  const wakeups = new TargetWakeups({ pool: deps.pool, client: deps.temporal.client, drains });
  return safeFailures({
    applyInbox: createApplyInbox({ ...deps, wakeups }),
    deliverPages: createDeliverPages({ ...deps, drains }),
    fetchBackfillPages: createFetchBackfillPages(deps),
    runRepairs: createRunRepairs({ pool: deps.pool, ...deps.temporal }),
  });
}

export type Activities = ReturnType<typeof createActivities>;

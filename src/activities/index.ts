import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Keyring } from '../secrets/keyring';
import { createApplyInbox } from './apply-inbox';
import { createDeliverPages } from './deliver-pages';
import { createFetchBackfillPages } from './fetch-backfill-pages';
import { createRunRepairs } from './run-repairs';

export interface ActivityDeps {
  pool: pg.Pool;
  /** The database the pool connects to: the inbox applies open their own, stricter pool to it. */
  databaseUrl: string;
  /** Opens the secrets stored in PostgreSQL (HOOKSYNC_ENCRYPTION_KEY); undefined without a key. */
  keyring?: Keyring;
  /** For the repairs, which start and signal workflows. */
  temporal: { client: Client; taskQueue: string; historyLimit?: number };
}

/** All I/O of the workflows. Workflows import this module's type only. */
export function createActivities(deps: ActivityDeps) {
  return {
    applyInbox: createApplyInbox(deps),
    deliverPages: createDeliverPages(deps),
    fetchBackfillPages: createFetchBackfillPages(deps),
    runRepairs: createRunRepairs({ pool: deps.pool, ...deps.temporal }),
  };
}

export type Activities = ReturnType<typeof createActivities>;

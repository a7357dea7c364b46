import type pg from 'pg';
import { createDeliverPages } from './deliver-pages';
import { createUpsertEvents } from './upsert-events';

export interface ActivityDeps {
  pool: pg.Pool;
}

/** All I/O of the workflows. Workflows import this module's type only. */
export function createActivities(deps: ActivityDeps) {
  return {
    upsertEvents: createUpsertEvents(deps),
    deliverPages: createDeliverPages(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

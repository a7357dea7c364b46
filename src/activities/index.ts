import type pg from 'pg';
import { createApplyInbox } from './apply-inbox';
import { createDeliverPages } from './deliver-pages';
import { createSweepInbox } from './sweep-inbox';

export interface ActivityDeps {
  pool: pg.Pool;
}

/** All I/O of the workflows. Workflows import this module's type only. */
export function createActivities(deps: ActivityDeps) {
  return {
    applyInbox: createApplyInbox(deps),
    sweepInbox: createSweepInbox(deps),
    deliverPages: createDeliverPages(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

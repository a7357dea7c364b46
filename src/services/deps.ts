import type pg from 'pg';
import type { Config } from '../config';
import type { Keyring } from '../secrets/keyring';
import type { TemporalHandle } from '../temporal/client';
import type { WorkflowStarter } from '../temporal/target-workflow';

/** What the service layer needs; the CLI and the API each build one. */
export interface ServiceDeps {
  pool: pg.Pool;
  temporal: TemporalHandle;
  config: Config;
  /** Seals and opens the secrets stored in PostgreSQL; undefined without HOOKSYNC_ENCRYPTION_KEY (they are stored in clear). */
  keyring?: Keyring;
}

/** Where and how the service layer starts a target's workflow. */
export const workflowStarter = (deps: ServiceDeps): WorkflowStarter => ({
  client: deps.temporal.client,
  taskQueue: deps.config.HOOKSYNC_TASK_QUEUE,
  historyLimit: deps.config.HOOKSYNC_HISTORY_LIMIT,
});

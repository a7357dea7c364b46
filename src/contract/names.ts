/** Workflow ids are part of the contract (DESIGN.md); build them in one place. */
export const httpSyncWorkflowId = (targetId: string) => `httpsync-${targetId}`;
export const backfillWorkflowId = (integrationId: string) => `backfill-${integrationId}`;
export const ingestWorkflowId = (integrationId: string, shard: number) => `ingest-${integrationId}-${shard}`;

export const SEARCH_ATTRIBUTES = {
  targetId: 'HooksyncTargetId',
  integrationId: 'HooksyncIntegrationId',
} as const;

/**
 * The reconciler (self-repair) of one deployment: one per task queue, so that deployments (and
 * test runs) sharing a Temporal namespace each repair their own targets.
 */
export const reconcilerWorkflowId = (taskQueue: string) => `reconciler-${taskQueue}`;

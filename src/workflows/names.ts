/** Workflow ids are part of the contract (DESIGN.md); build them in one place. */
export const httpSyncWorkflowId = (targetId: string) => `httpsync-${targetId}`;
export const ingestWorkflowId = (integrationId: string, shard: number) => `ingest-${integrationId}-${shard}`;

export const SEARCH_ATTRIBUTES = {
  targetId: 'HooksyncTargetId',
  integrationId: 'HooksyncIntegrationId',
} as const;

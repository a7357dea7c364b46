import { WorkflowNotFoundError } from '@temporalio/client';
import { dropIntegration, targetIdsOf } from '../db/integrations';
import { withTransaction } from '../db/pool';
import { backfillWorkflowId, httpSyncWorkflowId, ingestWorkflowId } from '../contract/names';
import type { ServiceDeps } from './deps';
import { dbError, ServiceError, unavailable } from './errors';
import { getIntegration } from './integrations';

export interface DeletedIntegration {
  id: string;
  service: string;
  table: string;
  /** The targets removed with it. */
  targets: string[];
  /** Workflows that were running and are now terminated (its targets' and its ingest shards'). */
  workflows_terminated: string[];
}

/** How long deletion waits for Temporal before it refuses (and changes nothing). */
const TEMPORAL_DEADLINE_MS = 10_000;

/**
 * Removes an integration with its targets, inbox, dead letters and table. Temporal is asked first:
 * when it cannot be reached nothing is changed. Then the database, in one transaction (the table
 * is dropped first, so no delivery or apply still reads it); then the workflows that belonged to
 * it are terminated. A target workflow that missed its termination ends by itself at its next
 * delivery (its target is gone), and the reconciler never starts it again.
 */
export async function deleteIntegration(deps: ServiceDeps, id: string): Promise<DeletedIntegration> {
  const integration = await getIntegration(deps, id);
  const targets = await targetIdsOf(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  const workflowIds = [
    ...targets.map(httpSyncWorkflowId),
    ...Array.from({ length: deps.config.HOOKSYNC_INGEST_SHARDS }, (_, shard) => ingestWorkflowId(id, shard)),
    backfillWorkflowId(id),
  ];
  const { client, connection } = deps.temporal;
  const running: string[] = [];
  try {
    await connection.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, async () => {
      for (const wid of workflowIds) {
        try {
          const d = await client.workflow.getHandle(wid).describe();
          if (d.status.name === 'RUNNING') running.push(wid);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
    });
  } catch (err) {
    throw unavailable('Temporal', err);
  }
  const dropped = await withTransaction(deps.pool, (db) => dropIntegration(db, id)).catch((err) => {
    throw dbError(err);
  });
  if (!dropped) throw new ServiceError('not_found', `no integration ${id}`);
  const terminated: string[] = [];
  for (const wid of running) {
    try {
      await connection.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, () =>
        client.workflow.getHandle(wid).terminate(`integration ${id} was deleted`),
      );
      terminated.push(wid);
    } catch (err) {
      // Ended meanwhile: nothing to stop.
      if (!(err instanceof WorkflowNotFoundError)) {
        throw new ServiceError('unavailable', `integration ${id} is deleted, but its workflow ${wid} could not be terminated: ${(err as Error).message}; it ends by itself at its next step`);
      }
    }
  }
  return { id, service: integration.service, table: integration.table, targets, workflows_terminated: terminated };
}

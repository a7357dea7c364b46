import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { WORKFLOW_TYPES, type IngestWorkflow } from '../contract/workflows';
import type { IngestWake } from '../contract/ingest';
import { wakeSignal } from '../contract/messages';
import { ingestWorkflowId } from '../contract/names';
import { integrationIdKey } from './client';

/** How ingest workflows are started: the same from the API, the sweep and the CLI. */
export interface IngestSettings {
  taskQueue: string;
  shards: number;
  historyLimit?: number;
}

export function ingestSettings(config: Pick<Config, 'HOOKSYNC_TASK_QUEUE' | 'HOOKSYNC_INGEST_SHARDS' | 'HOOKSYNC_HISTORY_LIMIT'>): IngestSettings {
  return { taskQueue: config.HOOKSYNC_TASK_QUEUE, shards: config.HOOKSYNC_INGEST_SHARDS, historyLimit: config.HOOKSYNC_HISTORY_LIMIT };
}

export interface ShardRef {
  integrationId: string;
  service: string;
  shard: number;
}

/** A wake-up may wait this long for Temporal; it is retried after, and the sweep backs it up. */
export const WAKE_DEADLINE_MS = 10_000;

/**
 * Wakes a shard's ingest workflow, starting it if it does not exist. Carries no customer data:
 * only the inbox position up to which rows are known to wait.
 */
export async function wakeIngest(client: Client, settings: IngestSettings, ref: ShardRef, upTo?: string, deadlineMs = WAKE_DEADLINE_MS): Promise<void> {
  await client.withDeadline(Date.now() + deadlineMs, () =>
    client.workflow.signalWithStart<IngestWorkflow, [IngestWake]>(WORKFLOW_TYPES.ingest, {
      workflowId: ingestWorkflowId(ref.integrationId, ref.shard),
      taskQueue: settings.taskQueue,
      args: [{ integrationId: ref.integrationId, service: ref.service, shard: ref.shard, shards: settings.shards, historyLimit: settings.historyLimit }],
      signal: wakeSignal,
      signalArgs: [upTo === undefined ? {} : { upTo }],
      typedSearchAttributes: [{ key: integrationIdKey, value: ref.integrationId }],
      staticSummary: `Ingest ${ref.service} ${ref.integrationId}, shard ${ref.shard + 1} of ${Math.max(settings.shards, ref.shard + 1)}`,
    }),
  );
}

/** Temporal refuses a signal while the workflow is continuing as new: it is gone in a moment. */
export const isClosingRefusal = (err: unknown) => /workflow is closing/i.test(String((err as Error)?.message ?? err));

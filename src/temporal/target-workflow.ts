import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { TargetRow } from '../db/targets';
import { cursorOf } from '../db/targets';
import { integrationIdKey, targetIdKey } from './client';
import { summaryMarkdown } from '../contract/summaries';
import { httpSyncWorkflowId } from '../contract/names';
import type { HttpSyncInput, TargetLabels, TargetSettings } from '../contract/httpsync';
import { WORKFLOW_TYPES, type HttpSyncWorkflow } from '../contract/workflows';

/** What starting a target's workflow needs: the service layer and the repair activity each have one. */
export interface WorkflowStarter {
  client: Client;
  taskQueue: string;
  historyLimit?: number;
}

export const settingsOf = (t: TargetRow): TargetSettings => ({
  periodSeconds: t.period_seconds,
  pageSize: t.page_size,
  timeoutSeconds: t.timeout_seconds,
  mode: t.mode,
  paused: t.paused,
});

export const labelsOf = (t: TargetRow): TargetLabels => ({
  integrationId: t.integration_id,
  service: t.service,
  table: t.table_name,
  maskedUrl: t.url_masked,
});

/**
 * The workflow's input from the target's row. A new target starts at the start; one started again
 * (its workflow terminated, failed or never started) from the cursor and counters PostgreSQL
 * recorded after every 2xx, and syncs at once (rows may have piled up meanwhile).
 */
export function workflowInput(t: TargetRow, starter: WorkflowStarter, restartedAt?: Date): HttpSyncInput {
  const input: HttpSyncInput = { targetId: t.id, settings: settingsOf(t), labels: labelsOf(t), historyLimit: starter.historyLimit };
  if (!restartedAt) return input;
  return {
    ...input,
    progress: {
      cursor: cursorOf(t),
      rowsDelivered: Number(t.rows_delivered),
      pagesDelivered: Number(t.pages_delivered),
      postCount: Number(t.post_count),
      postMsTotal: t.post_ms_total,
      syncs: 0,
      errorCount: Number(t.error_count),
      ...(t.last_success_at ? { lastSuccessAt: t.last_success_at.toISOString() } : {}),
      ...(t.last_error ? { lastError: t.last_error, lastErrorAt: t.last_error_at?.toISOString() } : {}),
    },
    wake: true,
    generation: t.cursor_generation,
    ...(t.reset_at ? { resetAt: t.reset_at.toISOString() } : {}),
    restartedAt: restartedAt.toISOString(),
  };
}

/**
 * Starts the target's workflow. `replace` terminates a running one first (`httpsync restart`);
 * otherwise a running one is left alone and 'running' is returned.
 */
export async function startTargetWorkflow(
  starter: WorkflowStarter,
  t: TargetRow,
  opts: { restartedAt?: Date; replace?: boolean } = {},
): Promise<'started' | 'running'> {
  const labels = labelsOf(t);
  try {
    await starter.client.workflow.start<HttpSyncWorkflow>(WORKFLOW_TYPES.httpSync, {
      workflowId: httpSyncWorkflowId(t.id),
      taskQueue: starter.taskQueue,
      args: [workflowInput(t, starter, opts.restartedAt)],
      workflowIdConflictPolicy: opts.replace ? 'TERMINATE_EXISTING' : 'FAIL',
      typedSearchAttributes: [
        { key: targetIdKey, value: t.id },
        { key: integrationIdKey, value: t.integration_id },
      ],
      // Markdown, as the UI renders it: the masked URL's *** must not turn into bold.
      staticSummary: summaryMarkdown(labels),
      staticDetails: `Target \`${t.id}\` of integration \`${t.integration_id}\`. Signals: trigger, pause, resume, configure, reset, delete; update: configureTarget; query: status.`,
    });
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
    throw err;
  }
}

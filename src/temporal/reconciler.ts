import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { logger } from '../log';
import { repairNowSignal } from '../contract/messages';
import { reconcilerWorkflowId } from '../contract/names';
import { WORKFLOW_TYPES, type ReconcilerWorkflow } from '../contract/workflows';
import { RECONCILER_SUMMARY } from '../contract/summaries';

export interface ReconcilerOptions {
  taskQueue: string;
  historyLimit?: number;
  /** Time between rounds (tests shorten it). */
  periodMs?: number;
}

/**
 * Makes sure the deployment's reconciler workflow runs (one fixed id per task queue, so every
 * worker may call this), and with `repairNow` has it run its repairs at once.
 */
export async function ensureReconciler(client: Client, opts: ReconcilerOptions & { repairNow: boolean }): Promise<void> {
  const start = {
    workflowId: reconcilerWorkflowId(opts.taskQueue),
    taskQueue: opts.taskQueue,
    args: [{ periodMs: opts.periodMs, historyLimit: opts.historyLimit }] as [Parameters<ReconcilerWorkflow>[0]],
    staticSummary: RECONCILER_SUMMARY,
  };
  if (opts.repairNow) {
    await client.workflow.signalWithStart<ReconcilerWorkflow>(WORKFLOW_TYPES.reconciler, { ...start, signal: repairNowSignal, signalArgs: [] });
    return;
  }
  // No signal, no history event when it runs: a cheap check to repeat.
  await client.workflow.start<ReconcilerWorkflow>(WORKFLOW_TYPES.reconciler, { ...start, workflowIdConflictPolicy: 'USE_EXISTING' }).catch((err) => {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  });
}

/**
 * At a worker's start: the reconciler runs its repairs now; then, every minute, the worker checks
 * that the reconciler itself still runs (an operator may terminate it too). Returns the stop function.
 */
export function superviseReconciler(client: Client, opts: ReconcilerOptions): () => void {
  const ensure = (repairNow: boolean) =>
    ensureReconciler(client, { ...opts, repairNow }).catch((err: Error) =>
      logger.warn({ err: err.message.split('\n')[0] }, 'could not start the reconciler workflow (self-repair); trying again in a minute'),
    );
  void ensure(true);
  const timer = setInterval(() => void ensure(false), 60_000);
  timer.unref();
  return () => clearInterval(timer);
}

import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { getTarget, listDeletedTargetIds, listTargets, recordRestart } from '../../db/targets';
import { logger } from '../../log';
import { startTargetWorkflow } from '../../temporal/target-workflow';
import { deleteSignal } from '../../contract/messages';
import { httpSyncWorkflowId } from '../../contract/names';
import { WORKFLOW_TYPES } from '../../contract/workflows';
import type { RepairContext } from './context';
import { safeErrorText } from '../../db/pg-error';

/**
 * A target created this recently may still be having its workflow started by whoever created it
 * (the INSERT comes first): only later does a missing workflow count as never started.
 */
const NEW_TARGET_GRACE_MS = 30_000;
/** Deleted targets are looked at this long after their deletion, in case their delete signal was lost. */
const DELETED_LOOKBACK_MS = 7 * 24 * 3600_000;

/** Why a target's workflow is not running, from Temporal's own record; undefined when it is running. */
async function whyNotRunning(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    if (d.status.name === 'RUNNING') return undefined;
    return d.status.name.toLowerCase().replace(/_/g, ' ');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'never started';
    throw err;
  }
}

/** Ids of the running HTTP Sync workflows, from one visibility listing (not one call per target). */
async function runningWorkflowIds(client: Client): Promise<Set<string>> {
  const ids = new Set<string>();
  const query = `WorkflowType = '${WORKFLOW_TYPES.httpSync}' AND ExecutionStatus = 'Running'`;
  for await (const wf of client.workflow.list({ query })) ids.add(wf.workflowId);
  return ids;
}

/**
 * Every target that is not deleted has a running workflow: one that was terminated (in the UI),
 * failed, or never started (the process died between the INSERT and the start) is started again
 * from the cursor PostgreSQL holds. And a deleted target's workflow that still runs (its delete
 * signal was lost) is told to stop.
 */
export async function repairTargetWorkflows(ctx: RepairContext): Promise<string> {
  const [targets, running] = await Promise.all([listTargets(ctx.pool), runningWorkflowIds(ctx.client)]);
  const started: string[] = [];
  const failed: string[] = [];
  let waiting = 0;
  for (const t of targets) {
    const workflowId = httpSyncWorkflowId(t.id);
    // The listing may lag behind (visibility is eventually consistent): ask before starting.
    const why = running.has(workflowId) ? undefined : await whyNotRunning(ctx.client, workflowId);
    if (why === undefined) continue;
    if (why === 'never started' && Date.now() - t.created_at.getTime() < NEW_TARGET_GRACE_MS) {
      waiting++;
      continue;
    }
    try {
      // Read again: a target deleted meanwhile stays deleted, and its latest cursor is used.
      const now = await getTarget(ctx.pool, t.id);
      if (!now || now.deleted_at) continue;
      const outcome = await startTargetWorkflow(ctx, now, { restartedAt: new Date() });
      if (outcome === 'running') continue;
      await recordRestart(ctx.pool, t.id, `self-repair: its workflow was ${why}`);
      logger.warn(
        { targetId: t.id, workflowId, was: why, cursor: `${now.cursor_txid}/${now.cursor_seq}` },
        `started the workflow of target ${t.id} again from the cursor PostgreSQL holds (it was ${why})`,
      );
      started.push(`${t.id} (${why})`);
    } catch (err) {
      logger.error({ targetId: t.id, err: safeErrorText(err) }, 'could not start the workflow of a target again');
      failed.push(`${t.id}: ${safeErrorText(err)}`);
    }
    ctx.heartbeat?.();
  }

  let stopped = 0;
  for (const id of await listDeletedTargetIds(ctx.pool, new Date(Date.now() - DELETED_LOOKBACK_MS))) {
    if (!running.has(httpSyncWorkflowId(id))) continue;
    await ctx.client.workflow
      .getHandle(httpSyncWorkflowId(id))
      .signal(deleteSignal)
      .then(() => stopped++)
      .catch(() => {});
  }

  const parts = [`${targets.length} target(s)`];
  parts.push(started.length ? `started again: ${started.join(', ')}` : 'every workflow running');
  if (waiting) parts.push(`${waiting} just created`);
  if (stopped) parts.push(`${stopped} deleted target(s) told to stop`);
  if (failed.length) parts.push(`could not start: ${failed.join('; ')}`);
  if (failed.length && started.length === 0) throw new Error(parts.join('; '));
  return parts.join('; ');
}

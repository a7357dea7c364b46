import { cursorOf, recordRestart, resetCursor } from '../db/targets';
import type { Cursor } from '../contract/cursor';
import { resetSignal } from '../contract/messages';
import { startTargetWorkflow } from '../temporal/target-workflow';
import { workflowStarter, type ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { dbError } from './errors';
import { askWorkflow } from './target-info';
import { changeThenTell } from './target-signals';
import { loadTarget, view, type TargetView } from './target-view';

/** Starting over: a target's cursor back to the start (reset), or its workflow again from PostgreSQL's record (restart). */

export interface ResetView extends TargetView {
  reset_at: string;
  generation: number;
  cursor: Cursor;
  /** False when Temporal could not be reached: the workflow starts over at its next delivery (it learns the reset from the database). */
  workflow_told: boolean;
}

/**
 * `reset --from-start`: every row is delivered again from the beginning, in order, paging as
 * usual (a receiver that lost its data, or a new one at the same URL). A delivery still running
 * from before can no longer move the cursor (see the generation in db/targets.ts).
 */
export async function resetTarget(deps: ServiceDeps, id: string): Promise<ResetView> {
  const t = await loadTarget(deps, id);
  // Above the workflow's generation too: a database restored from before a reset is behind it,
  // and the workflow would ignore a reset to a generation it has passed.
  const { live } = await askWorkflow(deps, id);
  // No undo: the new generation in the database brings the reset to the workflow at its next
  // delivery, even if this signal cannot be sent.
  const { result: r, told } = await changeThenTell(
    deps,
    id,
    async (db) => {
      const reset = await resetCursor(db, id, live?.generation ?? 0);
      if (!reset) throw new ServiceError('not_found', `no HTTP Sync target ${id}`);
      return reset;
    },
    (h, reset) => h.signal(resetSignal, { generation: reset.generation, at: reset.at.toISOString() }),
  );
  return { ...view(t), reset_at: r.at.toISOString(), generation: r.generation, cursor: { txid: '0', seq: '0' }, workflow_told: told };
}

export interface RestartView extends TargetView {
  /** What Temporal said of the workflow before: RUNNING (it was replaced), TERMINATED, FAILED, NOT_FOUND, … */
  was: string;
  cursor: Cursor;
}

/**
 * Starts the target's workflow again from the cursor and counters PostgreSQL holds, at once (self-
 * repair does the same within a minute for a workflow that is not running). A running one is
 * replaced, e.g. to leave a stuck state behind.
 */
export async function restartTarget(deps: ServiceDeps, id: string): Promise<RestartView> {
  const t = await loadTarget(deps, id);
  const { status, unreachable } = await askWorkflow(deps, id);
  if (unreachable) throw unavailable('Temporal', new Error(unreachable));
  try {
    await startTargetWorkflow(workflowStarter(deps), t, { restartedAt: new Date(), replace: true });
  } catch (err) {
    throw unavailable('Temporal', err);
  }
  const was = status ?? 'UNKNOWN';
  await recordRestart(deps.pool, id, `hooksync httpsync restart (the workflow was ${was.toLowerCase().replace(/_/g, ' ')})`).catch((err) => {
    throw dbError(err);
  });
  return { ...view(t), was, cursor: cursorOf(t) };
}

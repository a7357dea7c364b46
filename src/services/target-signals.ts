import type pg from 'pg';
import { withTransaction } from '../db/pool';
import { setTargetPaused } from '../db/targets';
import { pauseSignal, resumeSignal, triggerSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ServiceDeps } from './deps';
import { ServiceError, unavailable } from './errors';
import { dbError } from './errors';
import { loadTarget, view, type TargetView } from './target-view';

/** Telling a target's running workflow: signals under a deadline, and a database change that the workflow then hears of. */

export type Handle = ReturnType<ServiceDeps['temporal']['client']['workflow']['getHandle']>;

export async function signal(deps: ServiceDeps, id: string, send: (h: Handle) => Promise<void>) {
  try {
    // A deadline: with Temporal down the caller hears so in seconds (and an update rolls back).
    await deps.temporal.connection.withDeadline(Date.now() + 10_000, () => send(deps.temporal.client.workflow.getHandle(httpSyncWorkflowId(id))));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ServiceError('conflict', `the workflow of ${id} is not running (hooksync httpsync restart ${id} starts it again)`);
    throw unavailable('Temporal', err);
  }
}

export async function triggerTarget(deps: ServiceDeps, id: string): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  await signal(deps, id, (h) => h.signal(triggerSignal));
  return view(t);
}

export async function setPaused(deps: ServiceDeps, id: string, paused: boolean): Promise<TargetView> {
  const t = await loadTarget(deps, id);
  const store = (value: boolean) => setTargetPaused(deps.pool, id, value);
  if (paused) {
    // Signal first: if Temporal is down, nothing changes anywhere.
    await signal(deps, id, (h) => h.signal(pauseSignal));
    await store(true);
  } else {
    // The database first: the resumed workflow drains at once, and its delivery activity stops
    // on a target the database still says is paused, which would leave the rows that collected
    // meanwhile waiting for the next period. If Temporal is down, the change is undone.
    await store(false);
    try {
      await signal(deps, id, (h) => h.signal(resumeSignal));
    } catch (err) {
      await store(t.paused).catch(() => {});
      throw err;
    }
  }
  return view({ ...t, paused });
}

/**
 * The database first, then the workflow. The row changes in a transaction (with `work`, e.g. the
 * verification POST under the delivery lock) that commits before the workflow is told: a
 * transaction holding a transaction id open during a call to Temporal would hold back the
 * delivery of every target in the cluster meanwhile (the cursor waits for older transactions).
 * If Temporal cannot be reached, `undo` puts the row back, so nothing changed; without `undo`
 * the change stands and reaches the workflow by other means (`told` is false). A workflow that
 * is not running takes the row as it is when it is started again.
 */
export async function changeThenTell<T>(
  deps: ServiceDeps,
  id: string,
  work: (db: pg.PoolClient) => Promise<T>,
  tell: (h: Handle, result: T) => Promise<void>,
  undo?: (db: pg.Pool) => Promise<unknown>,
): Promise<{ result: T; told: boolean }> {
  let result: T;
  try {
    result = await withTransaction(deps.pool, work);
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    if ((err as { code?: string }).code === '55P03') {
      throw new ServiceError('conflict', `a delivery to ${id} did not finish in time to verify the new URL; try again`);
    }
    throw dbError(err);
  }
  try {
    await signal(deps, id, (h) => tell(h, result));
    return { result, told: true };
  } catch (err) {
    if (err instanceof ServiceError && err.code === 'conflict') return { result, told: false };
    if (!undo) return { result, told: false };
    await undo(deps.pool).catch((undoErr: Error) => {
      throw new ServiceError(
        'unavailable',
        `${(err as Error).message}; the change is saved in the database but the running workflow was not told (and undoing it failed: ${undoErr.message}): hooksync httpsync restart ${id} applies it`,
      );
    });
    throw err;
  }
}

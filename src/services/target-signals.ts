import type pg from 'pg';
import { withTransaction } from '../db/pool';
import { setTargetPaused } from '../db/targets';
import { lockPendingChange, markChangePending, settleChange } from '../db/pending-changes';
import { triggerSignal } from '../contract/messages';
import type { TargetChange } from '../contract/httpsync';
import { neverReachedTemporal, newUpdateId, sendConfigure } from '../temporal/configure-target';
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
  // The database first (a resumed workflow drains at once, and its delivery stops on a target
  // the database still says is paused), then the workflow, by settings that converge (see
  // changeSettingsThenTell). A workflow that is not running: nothing changes, as before.
  await changeSettingsThenTell(deps, id, (db) => setTargetPaused(db, id, paused), { paused }, (pool) => setTargetPaused(pool, id, t.paused), {
    notRunning: 'undo',
  });
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
  const result = await change(deps, id, work);
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

/** Puts back the settings from before the change `updateId`, unless a later change replaced it. */
async function undoChange(deps: ServiceDeps, id: string, updateId: string, restore: (db: pg.PoolClient) => Promise<unknown>, opts: { pending: boolean }): Promise<void> {
  await withTransaction(deps.pool, async (db) => {
    if (!(await lockPendingChange(db, id, updateId))) return;
    await restore(db);
    if (opts.pending) await markChangePending(db, id, newUpdateId());
  });
}

/** The row changes in a transaction; its errors as the service layer tells them. */
async function change<T>(deps: ServiceDeps, id: string, work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    return await withTransaction(deps.pool, work);
  } catch (err) {
    if (err instanceof ServiceError) throw err;
    if ((err as { code?: string }).code === '55P03') {
      throw new ServiceError('conflict', `a delivery to ${id} did not finish in time for this change (a new URL's verification, a new filter); try again`);
    }
    throw dbError(err);
  }
}

/**
 * Settings (update, pause, resume): the database and the workflow converge whatever happens to the
 * call in between. The row changes together with a pending update id, then the workflow gets the
 * `configure` update under that id; its answer clears the id. When the outcome is unknown (a
 * deadline passed after the update may have landed) the database keeps the new value and self-
 * repair (repairs/pending-changes) sends the row's settings under that id until the workflow
 * answers: never the old settings in the database and the new ones in the workflow. Only when
 * Temporal was surely not reached is the change undone (`restore`, unless a later change came
 * meanwhile), under a new pending id: should the workflow have got the change after all, the
 * restored settings reach it too (a repeated update id would only repeat the first answer). Self-
 * repair leaves a change alone while its call may still be under way (PENDING_CHANGE_GRACE_MS).
 * A workflow that is not running takes the row when started again (`notRunning: 'keep'`), or the
 * change is refused (`'undo'`).
 */
export async function changeSettingsThenTell(
  deps: ServiceDeps,
  id: string,
  work: (db: pg.PoolClient) => Promise<unknown>,
  settings: TargetChange,
  restore: (db: pg.PoolClient) => Promise<unknown>,
  opts: { notRunning: 'keep' | 'undo' },
): Promise<{ told: boolean }> {
  const updateId = newUpdateId();
  await change(deps, id, async (db) => {
    await work(db);
    await markChangePending(db, id, updateId);
  });
  if (Object.keys(settings).length === 0) {
    await settleChange(deps.pool, id, updateId).catch(() => {});
    return { told: true };
  }
  try {
    await sendConfigure(deps.temporal.client, id, settings, updateId);
    // Lost, this leaves the id pending: self-repair sends the same settings once more.
    await settleChange(deps.pool, id, updateId).catch(() => {});
    return { told: true };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      if (opts.notRunning === 'undo') await undoChange(deps, id, updateId, restore, { pending: false }).catch(() => {});
      await settleChange(deps.pool, id, updateId).catch(() => {});
      if (opts.notRunning === 'keep') return { told: false };
      throw new ServiceError('conflict', `the workflow of ${id} is not running (hooksync httpsync restart ${id} starts it again)`);
    }
    if (neverReachedTemporal(err)) {
      // Should the undo fail, the change stands, pending: self-repair sends it.
      await undoChange(deps, id, updateId, restore, { pending: true }).catch(() => {});
      throw unavailable('Temporal', err);
    }
    throw new ServiceError(
      'unavailable',
      `Temporal did not confirm the change in time (${(err as Error).message}); it is saved, and self-repair sends it to the workflow again until the workflow acknowledges it (within a minute once Temporal and a worker answer)`,
    );
  }
}

import { WorkflowNotFoundError } from '@temporalio/client';
import { pendingChangesOlderThan, settleChange } from '../../db/pending-changes';
import { listTargets } from '../../db/targets';
import { logger } from '../../log';
import { PENDING_CHANGE_GRACE_MS, sendConfigure } from '../../temporal/configure-target';
import { settingsOf } from '../../temporal/target-workflow';
import type { RepairContext } from './context';

/**
 * A change of settings whose `configure` update got no answer (a deadline passed, the process
 * died): the row's settings (which the database kept) go to the workflow again under the same
 * update id until it answers; then the id is cleared. Whatever happened to the first attempt,
 * the workflow ends with the database's settings. A change younger than `minAgeMs` is left to the
 * call that made it (it may still be sending it, or about to undo it).
 */
export async function repairPendingChanges(ctx: Pick<RepairContext, 'pool' | 'client' | 'heartbeat'>, minAgeMs = PENDING_CHANGE_GRACE_MS): Promise<string> {
  const due = await pendingChangesOlderThan(ctx.pool, minAgeMs);
  const all = (await listTargets(ctx.pool)).filter((t) => t.pending_update_id);
  const pending = all.filter((t) => due.has(t.id));
  const sent: string[] = [];
  const failed: string[] = [];
  for (const t of pending) {
    const updateId = t.pending_update_id!;
    try {
      await sendConfigure(ctx.client, t.id, { ...settingsOf(t), maskedUrl: t.url_masked }, updateId);
      sent.push(t.id);
    } catch (err) {
      // Not running: it takes the row's settings when started again (repairs/target-workflows).
      if (!(err instanceof WorkflowNotFoundError)) {
        failed.push(`${t.id}: ${(err as Error).message.split('\n')[0]}`);
        continue;
      }
    }
    await settleChange(ctx.pool, t.id, updateId);
    ctx.heartbeat?.();
  }
  if (sent.length) logger.warn({ targets: sent }, 'sent changes of settings again that their workflows had not acknowledged');
  const parts = [pending.length ? `${pending.length} unacknowledged change(s)` : 'every change of settings acknowledged'];
  if (all.length > pending.length) parts.push(`${all.length - pending.length} just made, left to their callers`);
  if (sent.length) parts.push(`sent again: ${sent.join(', ')}`);
  if (failed.length) parts.push(`not yet: ${failed.join('; ')}`);
  if (failed.length && sent.length === 0) throw new Error(parts.join('; '));
  return parts.join('; ');
}

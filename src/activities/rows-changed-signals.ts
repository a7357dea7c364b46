import { Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { olderTransactionsEnded } from '../db/integration-tables';
import { targetSignals } from '../metrics';
import { rowsChangedSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import { setTimeout as sleep } from 'node:timers/promises';

/** On-insert targets are signalled at once after rows changed, then at most this often while the apply goes on. */
const SIGNAL_SPACING_MS = 100;
const SIGNAL_DEADLINE_MS = 5_000;
/** How long a signal waits for the changed rows to become readable (an older transaction to end). */
const READABLE_WAIT_MS = 100;

/**
 * The `rowsChanged` signals of one apply: one per on-insert target as soon as a statement changed
 * rows, then at most every 100 ms while the apply goes on, and a last one for what changed since.
 * Sent from here (the worker's client) rather than by the workflow: a workflow's signals leave
 * only when its task ends, which is when this apply ends. A failure is logged, not fatal.
 */
export class TargetSignals {
  private readonly owed = new Set<string>();
  private lastAt = 0;
  private txid?: string;

  constructor(
    private readonly integrationId: string,
    private readonly db: () => pg.PoolClient | undefined,
  ) {}

  changed(targetIds: string[], txid?: string): void {
    for (const t of targetIds) this.owed.add(t);
    if (targetIds.length && txid && (!this.txid || BigInt(txid) > BigInt(this.txid))) this.txid = txid;
  }

  /** Never rejects. `waitReadable`: false when the connection is in doubt. */
  async flush(last: boolean, waitReadable = true): Promise<void> {
    if (this.owed.size === 0 || (!last && Date.now() - this.lastAt < SIGNAL_SPACING_MS)) return;
    const ids = [...this.owed];
    this.owed.clear();
    this.lastAt = Date.now();
    if (waitReadable) await this.readable().catch(() => {});
    const client = Context.current().client;
    await Promise.all(
      ids.map(async (targetId) => {
        try {
          await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => client.workflow.getHandle(httpSyncWorkflowId(targetId)).signal(rowsChangedSignal));
          targetSignals.inc({ outcome: 'sent' });
        } catch (err) {
          targetSignals.inc({ outcome: 'failed' });
          log.warn('could not signal rowsChanged to an on-insert target; it syncs at its next period', {
            integrationId: this.integrationId,
            targetId,
            error: (err as Error).message,
          });
        }
      }),
    );
  }

  /**
   * Waits (briefly) until the changed rows are readable by a page query: until every transaction
   * older than the apply's has ended, in practice an INSERT into the inbox still committing.
   * Otherwise the target would find them held back and look again only a second later.
   */
  private async readable(): Promise<void> {
    const db = this.db();
    const txid = this.txid;
    this.txid = undefined;
    if (!db || !txid) return;
    const until = Date.now() + READABLE_WAIT_MS;
    for (let wait = 2; ; wait *= 2) {
      if ((await olderTransactionsEnded(db, txid)) || Date.now() >= until) return;
      await sleep(Math.min(wait, until - Date.now()));
    }
  }
}

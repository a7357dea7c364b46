import type pg from 'pg';
import { olderTransactionsEnded } from '../db/integration-tables';
import type { TargetWakeups } from './target-wakeups';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a signal waits for the changed rows to become readable (an older transaction to end). */
const READABLE_WAIT_MS = 100;

/**
 * The `rowsChanged` wake-ups of one apply: handed to the worker's coalescer (target-wakeups.ts) as
 * soon as a statement changed rows (one statement per slice of time while rows keep coming), once
 * the rows are readable. The coalescer hands them to a drain of this process that runs for the
 * target (at no cost to Temporal), or spaces the workflow's wake-ups. From here rather than from
 * the workflow: a workflow's signals leave only when its task ends, which is when this apply ends.
 */
export class TargetSignals {
  private readonly owed = new Set<string>();
  private txid?: string;
  /** A statement changed rows without saying its transaction: no wake-up may count on the cursor. */
  private txidUnknown = false;

  constructor(
    private readonly integrationId: string,
    private readonly db: () => pg.PoolClient | undefined,
    private readonly wakeups: TargetWakeups,
  ) {}

  changed(targetIds: string[], txid?: string): void {
    for (const t of targetIds) this.owed.add(t);
    if (targetIds.length && !txid) this.txidUnknown = true;
    if (targetIds.length && txid && (!this.txid || BigInt(txid) > BigInt(this.txid))) this.txid = txid;
  }

  /** Never rejects. `waitReadable`: false when the connection is in doubt. */
  async flush(waitReadable = true): Promise<void> {
    if (this.owed.size === 0) return;
    const ids = [...this.owed];
    const txid = this.txidUnknown ? undefined : this.txid;
    this.owed.clear();
    this.txidUnknown = false;
    if (waitReadable) await this.readable().catch(() => {});
    this.wakeups.changed(this.integrationId, ids, txid);
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

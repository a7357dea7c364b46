import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { targetWakeStates, type TargetWakeState } from '../db/target-wake-state';
import { logger } from '../log';
import { targetSignals } from '../metrics';
import { rowsChangedSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';

/** A target woken less than this long ago waits for the rest of it: under load, one wake-up per slice. */
export const WAKE_SLICE_MS = 200;
/** How often a target whose lock is held (a drain under way) is looked at again. */
const LOCKED_RECHECK_MS = 100;
const SIGNAL_DEADLINE_MS = 5_000;

interface Owed {
  /** The newest transaction whose rows the target has not been told of (unknown: never taken as passed). */
  txid?: string;
  integrationId: string;
  /** When it is looked at next (ms since epoch). */
  due: number;
}

const newer = (a: string, b: string) => BigInt(a) > BigInt(b);
/** The later of two transactions; unknown wins (it may be any). */
const later = (a?: string, b?: string) => (a === undefined || b === undefined ? undefined : newer(a, b) ? a : b);

/**
 * The `rowsChanged` wake-ups of one worker process, coalesced per target and per slice of time,
 * as the API's wake-ups of ingest workflows are (api/ingest-wakeups.ts). A target is woken at
 * once when it is idle; at most one wake-up per target is in flight; none while its delivery
 * holds the lock (the drain reads until no page is left, and the target is looked at again when
 * it ends), none while a retry waits (new rows never cut a Retry-After), none for rows its cursor
 * has passed. So under load Temporal sees a wake-up per target per drain or per slice, whichever
 * is longer, not one per apply.
 */
export class TargetWakeups {
  private readonly owed = new Map<string, Owed>();
  private readonly inFlight = new Set<string>();
  private readonly lastSentAt = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  constructor(private readonly deps: { pool: pg.Pool; client: Client }) {}

  /** Rows of on-insert targets changed, committed by transaction `txid` (readable now). */
  changed(integrationId: string, targetIds: string[], txid: string | undefined): void {
    if (this.closed) return;
    const now = Date.now();
    for (const id of targetIds) {
      const o = this.owed.get(id);
      const due = Math.max(now, (this.lastSentAt.get(id) ?? 0) + WAKE_SLICE_MS);
      if (!o) this.owed.set(id, { txid, integrationId, due });
      else {
        o.txid = later(o.txid, txid);
        o.due = Math.min(o.due, due);
      }
    }
    this.plan();
  }

  /** Arms the timer for the earliest owed target (one timer for the process). */
  private plan(): void {
    if (this.closed || this.running) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const o of this.owed.values()) next = Math.min(next, o.due);
    if (next === Infinity) return;
    const delay = Math.max(0, next - Date.now());
    if (delay === 0) {
      this.running = this.round().finally(() => {
        this.running = undefined;
        this.plan();
      });
      return;
    }
    this.timer = setTimeout(() => this.plan(), delay);
    this.timer.unref();
  }

  /** Looks at every due target in one statement, then wakes those that need it. Never rejects. */
  private async round(): Promise<void> {
    const now = Date.now();
    // A target with a wake-up in flight is looked at again when that has been answered.
    for (const [id, o] of this.owed) if (this.inFlight.has(id) && o.due <= now) o.due = now + LOCKED_RECHECK_MS;
    const due = [...this.owed.entries()].filter(([, o]) => o.due <= now);
    if (due.length === 0) return;
    let states: Map<string, TargetWakeState>;
    try {
      states = new Map((await targetWakeStates(this.deps.pool, due.map(([id]) => id))).map((s) => [s.id, s]));
    } catch (err) {
      // The database is in trouble: wake them all (a drain needs it too, and fails visibly).
      logger.warn({ error: (err as Error).message }, 'could not read the state of on-insert targets; waking them');
      states = new Map();
    }
    for (const [id, o] of due) {
      const s = states.get(id);
      if (s && (s.asleep || s.retrying || (o.txid !== undefined && newer(s.cursorTxid, o.txid)))) {
        this.owed.delete(id);
        targetSignals.inc({ outcome: 'skipped' });
        continue;
      }
      if (s?.locked) {
        o.due = now + LOCKED_RECHECK_MS;
        continue;
      }
      this.owed.delete(id);
      this.send(id, o);
    }
  }

  private send(id: string, o: Owed): void {
    this.inFlight.add(id);
    this.lastSentAt.set(id, Date.now());
    const { client } = this.deps;
    void client
      .withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => client.workflow.getHandle(httpSyncWorkflowId(id)).signal(rowsChangedSignal))
      .then(
        () => targetSignals.inc({ outcome: 'sent' }),
        (err: Error) => {
          targetSignals.inc({ outcome: 'failed' });
          logger.warn({ integrationId: o.integrationId, targetId: id, error: err.message }, 'could not signal rowsChanged to an on-insert target; it syncs at its next period');
        },
      )
      .finally(() => {
        this.inFlight.delete(id);
        // Forget targets that have been quiet for a while (a slice is all that is remembered).
        const sentAt = this.lastSentAt.get(id);
        if (sentAt !== undefined && !this.owed.has(id)) setTimeout(() => this.lastSentAt.get(id) === sentAt && this.lastSentAt.delete(id), WAKE_SLICE_MS).unref();
        this.plan();
      });
  }

  /** Stops: what is owed is left to the targets' periods and the next worker's applies. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

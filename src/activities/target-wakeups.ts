import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { targetWakeStates, type TargetWakeState } from '../db/target-wake-state';
import { logger } from '../log';
import { targetSignals } from '../metrics';
import { rowsChangedSignal } from '../contract/messages';
import { httpSyncWorkflowId } from '../contract/names';
import type { LingeringDrains } from './lingering-drains';
import { noticeDrains } from '../db/drain-notices';

/**
 * A target woken less than a slice ago waits for the rest of it: under load, one wake-up per
 * slice. Each wake-up costs Temporal a signal, a workflow task and an activity, so the slice grows
 * with the targets this worker has woken lately (those it still remembers): 50 ms while few are
 * active, so a busy target sees its rows within about 50 ms of their commit, 10 ms more per
 * target, 1 s from 100 targets on: about 100 wake-ups a second at most, whatever the targets.
 * Targets whose drain runs in this process are not woken at all (lingering-drains.ts).
 */
export const WAKE_SLICE_MS = { min: 50, perTarget: 10, max: 1_000 } as const;
/** How often (at most) a target whose lock is held (a drain under way), or whose wake-up has not led to a drain yet, is looked at again. */
const RECHECK_MS = 100;
/**
 * A wake-up whose drain has not shown (lock taken, cursor moved) after this long is sent again:
 * a drain shorter than a look's interval that found its rows held back by an older transaction
 * (a concurrent apply of another shard) shows neither, and the rows committed since need one.
 */
const AWAIT_DRAIN_MS = 1_000;
/** A target with nothing owed is forgotten after this long (memory stays bounded by the active targets). */
const FORGET_MS = 10_000;
const SIGNAL_DEADLINE_MS = 5_000;

interface TargetWake {
  integrationId: string;
  /** Rows changed that the target has not been told of: the newest transaction (unknown: never taken as passed). */
  owed?: { txid?: string };
  /** When the target is looked at next (ms since epoch), while something is owed. */
  due: number;
  sending: boolean;
  lastSentAt?: number;
  /** A wake-up was sent and its drain has not shown yet: when, and the cursor then. */
  awaiting?: { since: number; cursor?: string };
  /** The drain that holds the target elsewhere was told of what is owed (drain-notices.ts). */
  told?: boolean;
}

const newer = (a: string, b: string) => BigInt(a) > BigInt(b);
/** The later of two transactions; unknown wins (it may be any). */
const later = (a?: string, b?: string) => (a === undefined || b === undefined ? undefined : newer(a, b) ? a : b);

/**
 * The `rowsChanged` wake-ups of one worker process, coalesced per target and per slice of time,
 * as the API's wake-ups of ingest workflows are (api/ingest-wakeups.ts). A target is woken at
 * once when it is idle. Then no other wake-up until that one has led to a drain (the target's
 * lock taken, or its cursor moved; sent again after a second without), none while a drain holds the
 * lock (the drain reads until no page is left; the target is looked at again when it ends),
 * none while a retry waits (new rows never cut a Retry-After), none for rows the cursor has
 * passed, and at most one per slice (50 ms to 1 s, longer with more active targets). So under
 * load Temporal sees about one wake-up per drain, not one per apply, and a drain that takes long
 * sees none.
 */
export class TargetWakeups {
  private readonly targets = new Map<string, TargetWake>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private closed = false;

  constructor(private readonly deps: { pool: pg.Pool; client: Client; drains?: LingeringDrains }) {}

  /** Rows of on-insert targets changed, committed by transaction `txid` (readable now). */
  changed(integrationId: string, targetIds: string[], txid: string | undefined): void {
    if (this.closed) return;
    const now = Date.now();
    for (const id of targetIds) {
      // A drain of the target runs in this process: it reads the rows, no wake-up needed.
      if (this.deps.drains?.notify(id)) continue;
      let t = this.targets.get(id);
      if (!t) this.targets.set(id, (t = { integrationId, due: now, sending: false }));
      const due = Math.max(now, (t.lastSentAt ?? 0) + this.sliceMs());
      t.due = t.owed ? Math.min(t.due, due) : due;
      t.owed = t.owed ? { txid: later(t.owed.txid, txid) } : { txid };
      t.told = false;
    }
    this.plan();
  }

  private recheckMs(): number {
    return Math.min(RECHECK_MS, this.sliceMs());
  }

  private sliceMs(): number {
    return Math.min(WAKE_SLICE_MS.max, Math.max(WAKE_SLICE_MS.min, this.targets.size * WAKE_SLICE_MS.perTarget));
  }

  /** Arms the one timer of the process for the earliest target owed a look. */
  private plan(): void {
    if (this.closed || this.running) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const t of this.targets.values()) if (t.owed) next = Math.min(next, t.due);
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
    const due: Array<[string, TargetWake]> = [];
    for (const [id, t] of this.targets) {
      if (!t.owed || t.due > now) continue;
      // One in flight: looked at again once it has been answered.
      if (t.sending) t.due = now + this.recheckMs();
      else due.push([id, t]);
    }
    if (due.length === 0) return;
    let states: Map<string, TargetWakeState> | undefined;
    try {
      states = new Map((await targetWakeStates(this.deps.pool, due.map(([id]) => id))).map((s) => [s.id, s]));
    } catch (err) {
      // The database is in trouble: wake them all (a drain needs it too, and fails visibly).
      logger.warn({ error: (err as Error).message }, 'could not read the state of on-insert targets; waking them');
    }
    const tell: string[] = [];
    for (const [id, t] of due) if (this.decide(id, t, states && (states.get(id) ?? 'gone'), now) === 'tell') tell.push(id);
    // Drains that hold these targets in other worker processes read the rows within their slice.
    if (tell.length > 0) {
      await noticeDrains(this.deps.pool, tell).catch((err: Error) => logger.warn({ error: err.message }, 'could not tell drains in other workers of new rows'));
    }
  }

  /** 'tell': a drain holds the target, not in this process; told once of what is owed. */
  private decide(id: string, t: TargetWake, s: TargetWakeState | 'gone' | undefined, now: number): 'tell' | void {
    if (s === 'gone' || (s && (s.asleep || s.retrying || (t.owed?.txid !== undefined && newer(s.cursorTxid, t.owed.txid))))) {
      // Not needed: gone, paused, a period target, a retry that will take the rows, or drained past them.
      t.owed = undefined;
      targetSignals.inc({ outcome: 'skipped' });
      this.forgetLater(id, t);
      return;
    }
    if (s?.locked) {
      // A drain is under way (the one woken, if any): look again when it has ended, or once its
      // cursor has passed the rows. One in this process took them already (changed()).
      t.awaiting = undefined;
      t.due = now + this.recheckMs();
      if (t.told || this.deps.drains?.notify(id)) return;
      t.told = true;
      return 'tell';
    }
    if (s && t.awaiting) {
      if (s.cursor !== t.awaiting.cursor) t.awaiting = undefined;
      else if (now - t.awaiting.since < AWAIT_DRAIN_MS) {
        // The wake-up sent has not led to a drain yet (a workflow task on its way): it will take these rows too.
        t.due = now + this.recheckMs();
        return;
      }
    }
    this.send(id, t, s?.cursor);
  }

  private send(id: string, t: TargetWake, cursor: string | undefined): void {
    t.owed = undefined;
    t.sending = true;
    t.lastSentAt = Date.now();
    t.awaiting = { since: t.lastSentAt, cursor };
    const { client } = this.deps;
    void client
      .withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => client.workflow.getHandle(httpSyncWorkflowId(id)).signal(rowsChangedSignal))
      .then(
        () => targetSignals.inc({ outcome: 'sent' }),
        (err: Error) => {
          t.awaiting = undefined;
          targetSignals.inc({ outcome: 'failed' });
          logger.warn({ integrationId: t.integrationId, targetId: id, error: err.message }, 'could not signal rowsChanged to an on-insert target; it syncs at its next period');
        },
      )
      .finally(() => {
        t.sending = false;
        this.forgetLater(id, t);
        this.plan();
      });
  }

  /** Drops a target with nothing owed once its wake-up can no longer matter (memory stays bounded by the active targets). */
  private forgetLater(id: string, t: TargetWake): void {
    setTimeout(() => {
      if (!t.owed && !t.sending && this.targets.get(id) === t) this.targets.delete(id);
    }, FORGET_MS).unref();
  }

  /** Stops: what is owed is left to the targets' periods and the next worker's applies. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

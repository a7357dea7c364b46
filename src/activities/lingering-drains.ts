import type pg from 'pg';

/**
 * How long a drain of an on-insert target waits, after finding no page, for this worker's applies
 * to announce new rows before it returns (an idle target holds no activity for longer).
 */
export const LINGER_MS = 1_000;

/**
 * Reads of one waiting drain are spaced by at least this (a slice per drain): the applies announce
 * rows after every statement (one per 50 ms slice per shard), and each read that finds rows is a
 * page and a POST. Grows with the drains registered in the process, as the Temporal wake-ups'
 * slice does (target-wakeups.ts).
 */
export const LINGER_SLICE_MS = { perDrain: 5, max: 250 } as const;

/** One drain's registration: new rows for its target, announced while it runs. */
export class Linger {
  /** Rows were announced since the drain last read. */
  pending = false;
  private wakeUp?: (woken: boolean) => void;
  private left = false;

  constructor(private readonly onLeave: () => void) {}

  /** Rows of the target were committed; the drain reads them (now, or after the page in flight). */
  notify(): void {
    this.pending = true;
    this.wakeUp?.(true);
  }

  /**
   * Waits until rows are announced (true), or `ms` pass or `signal` aborts (false). On false the
   * drain has left already, in the same turn: rows announced after it take the Temporal wake-up.
   * With `stay`, a wait that times out does not leave (a drain looking again soon for rows held back).
   */
  wait(ms: number, signal: AbortSignal, stay = false): Promise<boolean> {
    if (this.pending) return Promise.resolve(true);
    if (this.left || ms <= 0 || signal.aborted) {
      if (!stay || signal.aborted) this.leave();
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', aborted);
        this.wakeUp = undefined;
        if (!woken && (!stay || signal.aborted)) this.leave();
        resolve(woken);
      };
      const aborted = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      signal.addEventListener('abort', aborted, { once: true });
      this.wakeUp = done;
    });
  }

  /** No more reads: announcements go to the Temporal wake-ups again. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.onLeave();
  }
}

/**
 * The drains of on-insert targets running in this worker process. While a target's drain runs (its
 * lock held), rows this process's applies commit for it are handed to that drain, which reads them
 * within a slice, instead of waking the workflow through Temporal once the drain has ended: a
 * target that keeps receiving rows costs Temporal one activity per drain budget (10 s), not a
 * signal, two workflow tasks and an activity per slice. Each drain holds a database connection
 * (its lock's session), so only `max` of them register, and none waits while other work waits
 * for a connection; the others end when no page is left.
 */
export class LingeringDrains {
  private readonly drains = new Map<string, Linger>();

  /** `crowded`: others wait for a connection of the pool, so a drain with no page left ends instead of waiting. */
  constructor(
    private readonly max: number,
    readonly crowded: () => boolean = () => false,
  ) {}

  /** Registers a drain of `targetId`; undefined when the process has no room for another (or it has one). */
  enter(targetId: string): Linger | undefined {
    if (this.drains.size >= this.max || this.drains.has(targetId)) return undefined;
    const linger: Linger = new Linger(() => {
      if (this.drains.get(targetId) === linger) this.drains.delete(targetId);
    });
    this.drains.set(targetId, linger);
    return linger;
  }

  /** Rows of `targetId` changed: true when a drain of this process takes them. */
  notify(targetId: string): boolean {
    const linger = this.drains.get(targetId);
    linger?.notify();
    return linger !== undefined;
  }

  /** The spacing of one drain's reads, from the drains registered now. */
  sliceMs(): number {
    return Math.min(LINGER_SLICE_MS.max, LINGER_SLICE_MS.perDrain * this.drains.size);
  }

  get size(): number {
    return this.drains.size;
  }
}

/**
 * The lingering drains of a worker process whose deliveries use `pool`: each holds a connection
 * of it (its lock's session), so three in four of the pool's connections may, and none waits
 * for rows while other work waits for a connection.
 */
export function lingeringDrainsFor(pool: pg.Pool): LingeringDrains {
  return new LingeringDrains(Math.floor(((pool.options.max ?? 10) * 3) / 4), () => pool.waitingCount > 0);
}

import type pg from 'pg';
import { idleShards, insertInboxRows, type InboxRow, type Written } from '../db/inbox';
import { inboxInsertRows } from '../metrics';
import type { ShardRef } from '../temporal/ingest-wake';
import { isDataError } from '../db/sql-errors';

/** FNV-1a: a stable hash, so one remote key always lands in the same shard. */
export function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/** PostgreSQL refused this event's row: it can never be stored as it is. */
export class UnstorableEventError extends Error {
  override name = 'UnstorableEventError';
}

/** The inbox could not be written (PostgreSQL unreachable or too slow): nothing was accepted. */
export class InboxUnavailableError extends Error {
  override name = 'InboxUnavailableError';
}

export interface InboxWriterOptions {
  pool: pg.Pool;
  shards: number;
  /** Told after each committed group: the shard, the highest position, how many rows, and whether no apply held the shard. */
  onCommitted: (ref: ShardRef, upTo: string, rows: number, idle: boolean) => void;
  maxRows?: number;
  maxBytes?: number;
  /** How long a request may wait for its group to commit before it is answered 503. */
  timeoutMs?: number;
}

interface Waiting {
  row: InboxRow;
  bytes: number;
  settle: (err?: Error) => void;
}

interface Lane {
  integration: { id: string; service: string };
  queue: Waiting[];
  writing: boolean;
}

/**
 * Group commit into the inbox. Each integration's lane has at most one INSERT in flight; requests
 * arriving meanwhile wait and go together in the next one, a single multi-row statement (for all
 * shards: the shard is a column). An idle lane writes at once, so grouping adds no latency, and
 * under load groups grow by themselves. A request's promise resolves once the INSERT carrying its
 * event has committed.
 */
export class InboxWriter {
  private readonly lanes = new Map<string, Lane>();
  private readonly checks = new Set<Promise<void>>();
  private readonly maxRows: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: InboxWriterOptions) {
    this.maxRows = opts.maxRows ?? 500;
    this.maxBytes = opts.maxBytes ?? 8 * 1024 * 1024;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  shardOf(key: string): number {
    return shardOf(key, this.opts.shards);
  }

  /** Writes the event (its shard is computed here); resolves once committed. */
  submit(integration: { id: string; service: string }, event: Omit<InboxRow, 'shard'>): Promise<void> {
    const row: InboxRow = { ...event, shard: this.shardOf(event.key) };
    let lane = this.lanes.get(integration.id);
    if (!lane) this.lanes.set(integration.id, (lane = { integration: { id: integration.id, service: integration.service }, queue: [], writing: false }));
    const l = lane;
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const waiting: Waiting = {
        row,
        bytes: row.body.length,
        settle: (err) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        },
      };
      // Answered within timeoutMs of its arrival. If its INSERT commits later anyway, the upstream's
      // redelivery is a duplicate, and duplicates change nothing.
      const timer = setTimeout(() => {
        const queued = l.queue.indexOf(waiting);
        if (queued >= 0) l.queue.splice(queued, 1);
        waiting.settle(new InboxUnavailableError(`PostgreSQL did not take the event within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      l.queue.push(waiting);
      if (!l.writing) void this.drain(l);
    });
  }

  /** Never rejects: every request of every group is settled. */
  private async drain(lane: Lane): Promise<void> {
    lane.writing = true;
    while (lane.queue.length > 0) {
      const group = this.take(lane);
      inboxInsertRows.observe(group.length);
      try {
        const written = await insertInboxRows(this.opts.pool, lane.integration.id, group.map((w) => w.row));
        for (const w of group) w.settle();
        this.afterCommit(lane, written);
      } catch (err) {
        if (isDataError(err) && group.length > 1) await this.oneByOne(lane, group);
        else for (const w of group) w.settle(refusal(err));
      }
    }
    lane.writing = false;
  }

  /** A group PostgreSQL refused: each event on its own, so only the one at fault is refused. */
  private async oneByOne(lane: Lane, group: Waiting[]): Promise<void> {
    for (const w of group) {
      try {
        const written = await insertInboxRows(this.opts.pool, lane.integration.id, [w.row]);
        w.settle();
        this.afterCommit(lane, written);
      } catch (err) {
        w.settle(refusal(err));
      }
    }
  }

  /** After the commit (never before: see idleShards), whether the shards' workflows need a wake-up. */
  private afterCommit(lane: Lane, written: Written[]): void {
    const { id, service } = lane.integration;
    const check: Promise<void> = idleShards(this.opts.pool, id, written.map((w) => w.shard))
      // Not known: wake them; a wake-up too many costs little.
      .catch(() => new Set(written.map((w) => w.shard)))
      .then((idle) => {
        for (const w of written) this.opts.onCommitted({ integrationId: id, service, shard: w.shard }, w.upTo, w.rows, idle.has(w.shard));
      })
      .finally(() => this.checks.delete(check));
    this.checks.add(check);
  }

  private take(lane: Lane): Waiting[] {
    let bytes = 0;
    let n = 0;
    while (n < lane.queue.length && n < this.maxRows) {
      const next = lane.queue[n]!.bytes;
      if (n > 0 && bytes + next > this.maxBytes) break;
      bytes += next;
      n++;
    }
    return lane.queue.splice(0, n);
  }

  /** Waits (a bounded time) for the groups being written and their wake-up checks. */
  async close(graceMs = 10_000): Promise<void> {
    const until = Date.now() + graceMs;
    while (([...this.lanes.values()].some((l) => l.writing) || this.checks.size > 0) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function refusal(err: unknown): Error {
  if (isDataError(err)) {
    const e = err as { message?: string; detail?: string };
    return new UnstorableEventError(`PostgreSQL cannot store this event: ${e.message}${e.detail ? ` (${e.detail})` : ''}`);
  }
  return new InboxUnavailableError(`PostgreSQL is unreachable: ${(err as Error)?.message ?? err}`);
}

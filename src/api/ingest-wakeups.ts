import type { Client } from '@temporalio/client';
import type { Logger } from '../log';
import { ingestWakeups } from '../metrics';
import { isClosingRefusal, wakeIngest, type IngestSettings, type ShardRef } from '../temporal/ingest-wake';

interface ShardWake {
  ref: ShardRef;
  /** Highest inbox position committed and not yet announced. */
  upTo?: string;
  /** When the next wake-up is due (ms since epoch); undefined: none is owed. */
  due?: number;
  timer?: NodeJS.Timeout;
  sending?: Promise<void>;
  failures: number;
  /** After a failure: no attempt before this, whatever commits meanwhile. */
  retryAt: number;
  lastSentAt: number;
  lastCommitAt: number;
  /** Moving averages of the time between commits to this shard (ms) and of the rows per commit: how busy it is. */
  commitIntervalMs: number;
  rowsPerCommit: number;
}

const RETRY_MS = 500;
const RETRY_MAX_MS = 30_000;
/** A refusal because the workflow is continuing as new lasts a moment. */
const CLOSING_RETRY_MS = 100;
/**
 * Spacing of wake-ups by the shard's load: none below 20 events a second (each wake-up at once,
 * for latency), growing to 250 ms at 60 a second and above, where a wake-up per group of events
 * would cost more than the applies it triggers (each is a signal, a workflow task and a local
 * activity; an apply of 250 ms of events costs hardly more than one of a single event).
 */
const QUIET_RATE = 20;
const BUSY_RATE = 60;
const MAX_GAP_MS = 250;
const EWMA = 0.1;

function gapMs(s: ShardWake): number {
  const rate = (1000 * s.rowsPerCommit) / s.commitIntervalMs;
  return MAX_GAP_MS * Math.min(1, Math.max(0, (rate - QUIET_RATE) / (BUSY_RATE - QUIET_RATE)));
}

/** How long closing waits for wake-ups in flight (each has its own deadline too). */
const CLOSE_GRACE_MS = 3_000;

/** The SDK's error and its cause ("Failed to signalWithStart Workflow" alone says little). */
const errorText = (err: unknown) => {
  const e = err as { message?: string; cause?: { message?: string } };
  return [e.message, e.cause?.message].filter(Boolean).join(': ').split('\n')[0]!;
};

/**
 * The API's wake-ups of ingest workflows, after their rows have committed (the requests are
 * answered already: a failed wake-up loses nothing). Adaptive: none while an apply is running on
 * the shard (it looks into the inbox again after it ends); otherwise at once on a quiet shard, and
 * spaced up to 250 ms apart on a busy one, so that under load Temporal's cost is per slice of time,
 * not per request. At most one in flight per workflow; what commits meanwhile goes with the next.
 * A failed wake-up is retried with backoff; the worker's sweep covers one this process never sent.
 */
export class IngestWakeups {
  private readonly shards = new Map<string, ShardWake>();
  private closed = false;

  constructor(private readonly opts: { client: Client; settings: IngestSettings; logger: Logger }) {}

  /** `rows` rows of `ref` up to `upTo` committed; `idle`: no apply held the shard after the commit. */
  committed(ref: ShardRef, upTo: string, rows: number, idle: boolean): void {
    if (this.closed) return;
    const now = Date.now();
    const key = `${ref.integrationId}/${ref.shard}`;
    let s = this.shards.get(key);
    if (!s) this.shards.set(key, (s = { ref, failures: 0, retryAt: 0, lastSentAt: 0, lastCommitAt: now, commitIntervalMs: 1_000, rowsPerCommit: 1 }));
    s.commitIntervalMs = (1 - EWMA) * s.commitIntervalMs + EWMA * Math.min(now - s.lastCommitAt, 5_000);
    s.rowsPerCommit = (1 - EWMA) * s.rowsPerCommit + EWMA * rows;
    s.lastCommitAt = now;
    if (!idle) return;
    if (!s.upTo || BigInt(upTo) > BigInt(s.upTo)) s.upTo = upTo;
    this.schedule(s, Math.max(now, s.lastSentAt + gapMs(s), s.retryAt));
  }

  private schedule(s: ShardWake, at: number): void {
    if (this.closed) return;
    s.due = Math.min(s.due ?? Infinity, at);
    // One in flight: its end schedules what is owed by then.
    if (s.sending) return;
    clearTimeout(s.timer);
    const delay = Math.max(0, s.due - Date.now());
    if (delay === 0) {
      this.send(s);
      return;
    }
    s.timer = setTimeout(() => this.send(s), delay);
    s.timer.unref();
  }

  private send(s: ShardWake): void {
    s.timer = undefined;
    s.due = undefined;
    s.lastSentAt = Date.now();
    const upTo = s.upTo;
    s.upTo = undefined;
    s.sending = this.attempt(s, upTo).finally(() => {
      s.sending = undefined;
      if (s.due !== undefined) this.schedule(s, s.due);
    });
  }

  /** Never rejects: a failure is counted, logged once per streak and retried. */
  private async attempt(s: ShardWake, upTo: string | undefined): Promise<void> {
    try {
      await wakeIngest(this.opts.client, this.opts.settings, s.ref, upTo);
      ingestWakeups.inc({ outcome: 'sent' });
      if (s.failures > 0) this.opts.logger.info({ ...s.ref, failures: s.failures }, 'ingest wake-up delivered after failures');
      s.failures = 0;
    } catch (err) {
      ingestWakeups.inc({ outcome: 'failed' });
      s.failures += 1;
      // Owed again, with what it announced.
      if (upTo && (!s.upTo || BigInt(upTo) > BigInt(s.upTo))) s.upTo = upTo;
      const closing = isClosingRefusal(err);
      if (!closing && s.failures === 1) {
        this.opts.logger.warn({ ...s.ref, err: errorText(err) }, 'could not wake the ingest workflow; the events are in the inbox, retrying');
      }
      const delay = closing ? CLOSING_RETRY_MS : Math.min(RETRY_MS * 2 ** (s.failures - 1), RETRY_MAX_MS);
      s.retryAt = Date.now() + delay;
      s.due = Math.max(s.due ?? 0, s.retryAt);
    }
  }

  /** Sends what is owed once more (briefly), then stops; the sweep takes whatever is left. */
  async close(): Promise<void> {
    const owed = [...this.shards.values()].filter((s) => s.due !== undefined && !s.sending);
    for (const s of owed) {
      clearTimeout(s.timer);
      this.send(s);
    }
    this.closed = true;
    for (const s of this.shards.values()) clearTimeout(s.timer);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
    await Promise.race([Promise.all([...this.shards.values()].map((s) => s.sending)), grace]);
    clearTimeout(timer);
  }
}

import type { Client } from '@temporalio/client';
import type { IngestRecord } from '../integrations/types';
import { integrationIdKey } from '../temporal/client';
import { ingestWorkflow } from '../workflows/ingest';
import { ingestEventsSignal } from '../workflows/messages';
import { ingestWorkflowId } from '../workflows/names';

export interface BatcherOptions {
  client: Client;
  taskQueue: string;
  shards: number;
  historyLimit?: number;
  /** Bounds of one signal: Temporal refuses payloads over 2 MB and warns above 512 KB. */
  maxEvents?: number;
  maxBytes?: number;
  /** How long one signal may take before its requests are answered 503. */
  timeoutMs?: number;
}

interface Waiting {
  record: IngestRecord;
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Lane {
  integrationId: string;
  service: string;
  shard: number;
  queue: Waiting[];
  sending: boolean;
}

/** FNV-1a: a stable hash, so one remote key always lands in the same shard. */
export function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % shards;
}

/**
 * Group commit into Temporal. Each (integration, shard) lane has at most one signal in flight;
 * requests arriving meanwhile wait and go together in the next one. An idle lane sends at once,
 * so grouping adds no latency, and under load batches grow by themselves. A request's promise
 * resolves only when the signal carrying its event is durable in Temporal.
 */
export class IngestBatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: BatcherOptions) {
    this.maxEvents = opts.maxEvents ?? 500;
    this.maxBytes = opts.maxBytes ?? 1_500_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  submit(integration: { id: string; service: string }, record: IngestRecord, bytes: number): Promise<void> {
    const shard = shardOf(record.key, this.opts.shards);
    const laneKey = `${integration.id}/${shard}`;
    let lane = this.lanes.get(laneKey);
    if (!lane) {
      lane = { integrationId: integration.id, service: integration.service, shard, queue: [], sending: false };
      this.lanes.set(laneKey, lane);
    }
    const l = lane;
    return new Promise<void>((resolve, reject) => {
      // Each request is answered within timeoutMs of its arrival, not of its signal's start: it may
      // first wait for the signal in flight before it (with Temporal down, up to twice as long).
      const timer = setTimeout(() => {
        // Not sent yet: it never will be, since the request is answered 503.
        const queued = l.queue.indexOf(waiting);
        if (queued >= 0) l.queue.splice(queued, 1);
        reject(new Error(`Temporal did not take the event within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const waiting: Waiting = {
        record,
        bytes,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      l.queue.push(waiting);
      if (!l.sending) void this.send(l);
    });
  }

  private async send(lane: Lane): Promise<void> {
    lane.sending = true;
    while (lane.queue.length > 0) {
      const batch = this.take(lane);
      try {
        await this.opts.client.connection.withDeadline(Date.now() + this.timeoutMs, () =>
          this.opts.client.workflow.signalWithStart(ingestWorkflow, {
            workflowId: ingestWorkflowId(lane.integrationId, lane.shard),
            taskQueue: this.opts.taskQueue,
            args: [{ integrationId: lane.integrationId, service: lane.service, shard: lane.shard, shards: this.opts.shards, historyLimit: this.opts.historyLimit }],
            signal: ingestEventsSignal,
            signalArgs: [batch.map((w) => w.record)],
            typedSearchAttributes: [{ key: integrationIdKey, value: lane.integrationId }],
            staticSummary: `Ingest ${lane.service} ${lane.integrationId}, shard ${lane.shard + 1} of ${this.opts.shards}`,
          }),
        );
        for (const w of batch) w.resolve();
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    lane.sending = false;
  }

  private take(lane: Lane): Waiting[] {
    let bytes = 0;
    let n = 0;
    while (n < lane.queue.length && n < this.maxEvents) {
      const next = lane.queue[n]!.bytes;
      if (n > 0 && bytes + next > this.maxBytes) break;
      bytes += next;
      n++;
    }
    return lane.queue.splice(0, n);
  }
}

import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { pruneSeenEvents, staleShards } from '../db/inbox';
import { orphanedDeadLetters, orphanedShards, removeLeftovers } from '../db/orphans';
import { integrations } from '../integrations';
import { isClosingRefusal, wakeIngest, type IngestSettings } from '../temporal/ingest-wake';

/** Rows this old have had their wake-up (or their apply is failing): the sweep wakes their shard. */
export const SWEEP_AGE_SECONDS = 5;

export interface SweepInput {
  /** Wake shards whose oldest inbox row is older than this (default 5 s). */
  olderThanSeconds?: number;
  /** The ingest workflows' settings when the sweep starts one (default: this worker's task queue). */
  settings?: Partial<IngestSettings>;
}

export interface SweepResult {
  /** Shards woken (their workflow started if it did not exist): `<integrationId>/<shard>`. */
  woken: string[];
  /** Shards whose wake-up failed (Temporal unreachable); the next sweep tries again. */
  failed: string[];
  /** Inbox rows and dead letters of integrations that no longer exist, removed (src/db/orphans.ts). */
  orphaned: number;
  /** Event ids forgotten after their de-duplication window. */
  pruned: number;
}

const windows = () => new Map([...integrations.values()].filter((d) => d.dedupe).map((d) => [d.service, d.dedupe!.windowDays]));

/**
 * The safety net of the inbox: wakes every shard whose inbox holds rows older than a few seconds
 * (the API's wake-up was lost, e.g. Temporal was down after the commit), also when the shard's
 * workflow does not exist. One cheap query when nothing waits. Also moves rows of integrations
 * that are gone, and their dead letters, away and prunes old de-duplication ids. Runs in every worker process,
 * at its start and then every few seconds (startInboxSweeper): more often than the reconciler's
 * minute, since a lost wake-up delays events until it runs.
 */
export function createSweepInbox(deps: { pool: pg.Pool; client?: Client; settings?: IngestSettings }) {
  return async function sweepInbox(input: SweepInput = {}): Promise<SweepResult> {
    const client = deps.client;
    const taskQueue = input.settings?.taskQueue ?? deps.settings?.taskQueue;
    if (!client || !taskQueue) throw new Error('sweepInbox needs a Temporal client and a task queue');
    const settings: IngestSettings = {
      taskQueue,
      shards: input.settings?.shards ?? deps.settings?.shards ?? 1,
      historyLimit: input.settings?.historyLimit ?? deps.settings?.historyLimit,
    };
    const result: SweepResult = { woken: [], failed: [], orphaned: 0, pruned: 0 };
    for (const o of await orphanedShards(deps.pool)) result.orphaned += await removeLeftovers(deps.pool, o.integrationId, o.shard);
    for (const id of await orphanedDeadLetters(deps.pool)) result.orphaned += await removeLeftovers(deps.pool, id);
    const stale = await staleShards(deps.pool, input.olderThanSeconds ?? SWEEP_AGE_SECONDS);
    await Promise.all(
      stale.map(async (ref) => {
        const name = `${ref.integrationId}/${ref.shard}`;
        for (let attempt = 1; ; attempt++) {
          try {
            await wakeIngest(client, settings, ref);
            result.woken.push(name);
            return;
          } catch (err) {
            // Refused while it continues as new: a moment later the new run takes the signal.
            if (isClosingRefusal(err) && attempt < 5) {
              await new Promise((r) => setTimeout(r, 100 * attempt));
              continue;
            }
            result.failed.push(name);
            return;
          }
        }
      }),
    );
    const w = windows();
    if (w.size > 0) result.pruned = await pruneSeenEvents(deps.pool, w);
    return result;
  };
}

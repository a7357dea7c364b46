import { requeueDeadLetters, requeuedOutcome } from '../db/inbox';
import { ingestSettings, wakeIngest } from '../temporal/ingest-wake';
import type { ServiceDeps } from './deps';
import { dbError } from './errors';
import { getIntegration } from './integrations';

/** `integrations retry-failed`: an integration's dead letters applied again. */

export interface RetryFailedResult {
  id: string;
  /** Dead letters put back into the inbox. */
  requeued: number;
  /** Of those, applied (or discarded as older) by the time the command returned. */
  done: number;
  /** Refused again, back in the dead letters. */
  failed_again: number;
  /** Still waiting in the inbox (no worker running, or the wait ended first). */
  waiting: number;
  /** Whether the ingest workflows could be woken; if not, the worker's sweep picks the events up. */
  woken: boolean;
}

/**
 * Puts an integration's dead letters back into the inbox and wakes its ingest workflows, which
 * apply them as any event (newest version wins; what is refused again goes back, with its error).
 * Waits up to `waitMs` for the outcome.
 */
export async function retryFailed(deps: ServiceDeps, id: string, opts: { waitMs?: number } = {}): Promise<RetryFailedResult> {
  const integration = await getIntegration(deps, id);
  const { at, shards } = await requeueDeadLetters(deps.pool, id).catch((err) => {
    throw dbError(err);
  });
  const ids = shards.flatMap((s) => s.ids);
  const result: RetryFailedResult = { id, requeued: ids.length, done: 0, failed_again: 0, waiting: ids.length, woken: true };
  if (ids.length === 0) return result;
  const settings = ingestSettings(deps.config);
  const wakes = await Promise.allSettled(
    shards.map((s) => wakeIngest(deps.temporal.client, settings, { integrationId: id, service: integration.service, shard: s.shard }, s.ids[s.ids.length - 1])),
  );
  result.woken = wakes.every((w) => w.status === 'fulfilled');
  const until = Date.now() + (opts.waitMs ?? 30_000);
  for (;;) {
    const o = await requeuedOutcome(deps.pool, id, ids, at);
    result.waiting = o.waiting;
    result.failed_again = o.failedAgain;
    result.done = Math.max(0, ids.length - o.waiting - o.failedAgain);
    if (o.waiting === 0 || Date.now() >= until || !result.woken) return result;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

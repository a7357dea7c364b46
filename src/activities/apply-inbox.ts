import { ApplicationFailure, log } from '@temporalio/activity';
import type pg from 'pg';
import { inboxDepth, tryLockShard, unlockShard } from '../db/inbox';
import { applyInboxBatch, forgetIntegrationRef, integrationRef } from '../db/integration-tables';
import { isConnectionError, isDataError } from '../db/sql-errors';
import { safeErrorText } from '../db/pg-error';
import { applySql } from '../integrations/sql';
import { eventsApplied } from '../metrics';
import type { ApplyInput, ApplyResult } from '../contract/ingest';
import { applyPool } from './apply-pool';
import { removeLeftovers } from '../db/orphans';
import { isolate, type BatchOutcome } from './inbox-isolate';
import { TargetSignals } from './rows-changed-signals';
import type { TargetWakeups } from './target-wakeups';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ApplyOptions {
  /** Keeps taking what arrives until the inbox is empty or this much time has passed. */
  budgetMs?: number;
  /** Keeps retrying a failing apply (a locked table, a restarting database) this long before it reports. */
  failureBudgetMs?: number;
  /** Inbox rows per statement. */
  batchLimit?: number;
}

const DEFAULTS: Required<ApplyOptions> = { budgetMs: 2_000, failureBudgetMs: 15_000, batchLimit: 1_000 };
/**
 * After the inbox runs empty, an apply that took rows stays: once per slice of time it runs its
 * statement again, which takes what arrived meanwhile, until `idleMs` pass with nothing. A
 * statement that finds nothing costs a fraction of a millisecond, a wake-up and a new activity
 * some twenty; and a statement per slice rather than per event (without a look before it: a round
 * trip is most of the cost of either) is what keeps a steady rate cheap: at 100 events a second on
 * a shard, five events per statement instead of a statement and an empty look per event. The slice
 * is also what an event may wait here at most, beside the apply's own time.
 */
const LINGER = { sliceMs: 50, idleMs: 200 } as const;

/**
 * Applies a shard's inbox: one statement per batch (newest per key, the conditional upsert, the
 * delete of what was taken; one transaction), batch after batch until the inbox is empty or the
 * time budget is spent. Holds the shard's advisory lock meanwhile, and looks into the inbox once
 * more after releasing it: an API that found the lock held skipped its wake-up, trusting that look.
 */
export function createApplyInbox({ pool, databaseUrl, wakeups }: { pool: pg.Pool; databaseUrl: string; wakeups: TargetWakeups }, opts: ApplyOptions = {}) {
  const { budgetMs, failureBudgetMs, batchLimit } = { ...DEFAULTS, ...opts };
  const statements = new Map<string, string>();
  let own: pg.Pool | undefined;

  return async function applyInbox({ integrationId, shard }: ApplyInput): Promise<ApplyResult> {
    const started = Date.now();
    const result: ApplyResult = {
      taken: 0, applied: 0, discarded: 0, deadLettered: 0, batches: 0, more: false, onInsertTargets: [],
      inbox: { waiting: 0, oldestAgeSeconds: null, at: new Date().toISOString() },
    };
    const targets = new Set<string>();
    let client: pg.PoolClient | undefined;
    const signals = new TargetSignals(integrationId, () => client, wakeups);
    const add = (o: BatchOutcome) => {
      result.taken += o.taken;
      result.applied += o.applied;
      result.deadLettered += o.deadLettered;
      count(o.applied, o.taken - o.applied - o.deadLettered, o.deadLettered);
      if (o.upTo && (!result.upTo || BigInt(o.upTo) > BigInt(result.upTo))) result.upTo = o.upTo;
      o.targets.forEach((t) => targets.add(t));
      signals.changed(o.targets, o.txid);
    };

    const ref = await integrationRef(pool, integrationId);
    if (!ref) {
      // The integration is gone (deleted, and an API's cached lookup still accepted events for
      // it): nothing to write into, and its dead letters went with it. Removed (src/db/orphans.ts).
      const removed = await removeLeftovers(pool, integrationId, shard);
      log.warn('integration gone; its events accepted after the delete removed', { integrationId, shard, events: removed });
      return { ...finish(result, targets), gone: true };
    }
    let sql = statements.get(integrationId);
    if (!sql) statements.set(integrationId, (sql = applySql(ref.descriptor, ref.table)));

    client = await (own ??= applyPool(databaseUrl)).connect();
    let broken = false;
    let locked = false;
    let depth: { waiting: number; oldestAgeSeconds: number | null } | undefined;
    try {
      const run = (ids: string[] | null) => applyInboxBatch(client, sql!, integrationId, shard, ids ? ids.length : batchLimit, ids).then((r) => ({ ...r, deadLettered: 0 }));
      /** Releases the shard and looks into its inbox once more: true when rows wait (committed while it was held). */
      const releaseAndLook = async () => {
        await unlockShard(client, integrationId, shard);
        locked = false;
        depth = await inboxDepth(client, integrationId, shard);
        return depth.waiting > 0;
      };
      locked = await lockSoon(client, integrationId, shard);
      if (!locked) return { ...finish(result, targets), busy: true };
      let failing: ApplyResult['failing'];
      let lastTookAt = 0;
      for (;;) {
        try {
          if (!locked && !(locked = await lockSoon(client, integrationId, shard))) break;
          const o = await run(null);
          if (o.taken > 0) result.batches += 1;
          failing = undefined;
          add(o);
          // The rows are committed: wake the on-insert targets now, not when this apply ends.
          await signals.flush();
          const contended = own!.waitingCount > 0;
          if (o.taken > 0 && (Date.now() - started >= budgetMs || contended)) {
            result.more = true;
            break;
          }
          // A full batch: more waits, taken at once.
          if (o.taken >= batchLimit) continue;
          // The inbox is empty. A busy shard keeps this apply going (a statement per slice of time
          // while rows keep arriving): one wake-up and one activity per time budget, not per
          // group of events; unless other applies wait for a connection.
          if (o.taken > 0) lastTookAt = Date.now();
          const lingering = result.taken > 0 && !contended && Date.now() - lastTookAt + LINGER.sliceMs <= LINGER.idleMs;
          if (lingering && Date.now() - started + LINGER.sliceMs <= budgetMs) {
            await sleep(LINGER.sliceMs);
            continue;
          }
          // Rows committed while the lock was held, by an API that then skipped its wake-up.
          if (!(await releaseAndLook())) break;
        } catch (err) {
          if (isConnectionError(err)) {
            broken = true;
            throw ApplicationFailure.retryable(`the apply lost its database connection: ${safeErrorText(err)}`, 'InboxApplyFailed');
          }
          if ((err as { code?: string }).code === '42P01') {
            // Its table is gone (`integrations delete`): the next attempt finds the integration gone
            // and keeps what waits as dead letters.
            forgetIntegrationRef(integrationId);
            statements.delete(integrationId);
            throw ApplicationFailure.retryable(`the table of ${integrationId} is gone: ${safeErrorText(err)}`, 'InboxApplyFailed');
          }
          if (isDataError(err)) {
            result.batches += 1;
            add(await isolate(run, client, integrationId, shard, batchLimit, err));
            continue;
          }
          const now = Date.now();
          failing = { error: safeErrorText(err), since: failing?.since ?? new Date(now).toISOString(), attempts: (failing?.attempts ?? 0) + 1 };
          if (now - Date.parse(failing.since) >= failureBudgetMs) {
            log.warn('inbox apply failing', { integrationId, shard, error: failing.error, attempts: failing.attempts });
            result.failing = failing;
            result.more = true;
            break;
          }
          await sleep(Math.min(250 * 2 ** (failing.attempts - 1), 2_000));
        }
      }
      return finish(result, targets, depth && !locked ? depth : await inboxDepth(client, integrationId, shard));
    } finally {
      // Whatever ends this apply, the targets hear of the rows it changed.
      await signals.flush(!broken);
      if (locked && !broken) await unlockShard(client, integrationId, shard).catch(() => (broken = true));
      // A connection in doubt is closed, not reused: closing it also drops any lock it held.
      client.release(broken);
    }
  };
}

function finish(result: ApplyResult, targets: Set<string>, depth?: { waiting: number; oldestAgeSeconds: number | null }): ApplyResult {
  result.discarded = result.taken - result.applied - result.deadLettered;
  result.onInsertTargets = [...targets];
  if (depth) result.inbox = { ...depth, at: new Date().toISOString() };
  return result;
}


/** Counted as each statement commits, so /metrics follows a long apply. */
function count(applied: number, discarded: number, deadLettered: number): void {
  if (applied) eventsApplied.inc({ outcome: 'applied' }, applied);
  if (discarded) eventsApplied.inc({ outcome: 'discarded' }, discarded);
  if (deadLettered) eventsApplied.inc({ outcome: 'dead_lettered' }, deadLettered);
}

/** The shard's lock, waiting briefly: an API's check holds it (shared) for a moment only. */
async function lockSoon(client: pg.PoolClient, integrationId: string, shard: number): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (await tryLockShard(client, integrationId, shard)) return true;
    await sleep(5);
  }
  return false;
}


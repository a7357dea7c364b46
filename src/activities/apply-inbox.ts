import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { createPool } from '../db/pool';
import { deadLetter, inboxDepth, oldestIds, shardHasRows, tryLockShard, unlockShard } from '../db/inbox';
import { applyInboxBatch, forgetIntegrationRef, integrationRef, olderTransactionsEnded } from '../db/integration-tables';
import { applySql } from '../integrations/sql';
import { eventsApplied, targetSignals } from '../metrics';
import { rowsChangedSignal } from '../workflows/messages';
import { httpSyncWorkflowId } from '../workflows/names';
import type { ApplyInput, ApplyResult } from '../workflows/types';
import { removeLeftovers } from '../db/orphans';
import { safeErrorText } from '../db/pg-error';

export interface ApplyOptions {
  /** Keeps taking what arrives until the inbox is empty or this much time has passed. */
  budgetMs?: number;
  /** Keeps retrying a failing apply (a locked table, a restarting database) this long before it reports. */
  failureBudgetMs?: number;
  /** Inbox rows per statement. */
  batchLimit?: number;
}

const DEFAULTS: Required<ApplyOptions> = { budgetMs: 2_000, failureBudgetMs: 15_000, batchLimit: 1_000 };
const CONNECTIONS = 10;
/** On-insert targets are signalled at once after rows changed, then at most this often while the apply goes on. */
const SIGNAL_SPACING_MS = 100;
const SIGNAL_DEADLINE_MS = 5_000;
/** How long a signal waits for the changed rows to become readable (an older transaction to end). */
const READABLE_WAIT_MS = 100;
/**
 * After the inbox runs empty, an apply that took rows looks again this often, this many times: a
 * look costs a fraction of a millisecond, a wake-up and a new activity some twenty.
 */
const LINGER = { pollMs: 10, polls: 10 } as const;

/**
 * The applies' own connections, to the same database: a locked table or a stuck statement fails
 * within these bounds instead of holding a connection for ever, and a commit does not wait for
 * the disk. A commit lost in a crash loses the upsert and the inbox delete together (one
 * statement), so the rows are applied again. Kept apart from the pool the deliveries use.
 */
function applyPool(pool: pg.Pool): pg.Pool {
  const base = (pool as unknown as { options: pg.PoolConfig }).options;
  // createPool's keepalive and error listeners too: a restarting server must not crash the worker.
  return createPool(base.connectionString!, CONNECTIONS, {
    lock_timeout: 5_000,
    statement_timeout: 60_000,
    options: [base.options, '-c synchronous_commit=off'].filter(Boolean).join(' '),
    idleTimeoutMillis: 10_000,
    // Idle connections do not keep a process alive that is otherwise done.
    allowExitOnIdle: true,
  });
}

// SQLSTATE class 22 (data exception), 23 (integrity) and 54 (program limit): the record is at
// fault and retrying won't help; anything else (locks, timeouts, connections) will pass.
const isDataError = (err: unknown) => /^(22|23|54)/.test((err as { code?: string }).code ?? '');
// No SQLSTATE: the connection itself failed, and the client cannot be used again.
const isConnectionError = (err: unknown) => !/^[0-9A-Z]{5}$/.test((err as { code?: string }).code ?? '') || /^(08|57P)/.test((err as { code?: string }).code!);

/** What a dead letter records: SQLSTATE, message and detail (it stays in PostgreSQL, beside the event). */
const describe = (err: unknown) => {
  const e = err as { code?: string; message?: string; detail?: string };
  return `${e.code ?? 'error'}: ${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}`.slice(0, 2_000);
};
/** What may travel to Temporal and the logs: no message, detail or hint of PostgreSQL's (they quote the data). */
const summarize = safeErrorText;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface BatchOutcome {
  taken: number;
  applied: number;
  deadLettered: number;
  upTo?: string;
  /** The statement's transaction: its rows are readable by a page query once every older one has ended. */
  txid?: string;
  targets: string[];
}

/**
 * Applies a shard's inbox: one statement per batch (newest per key, the conditional upsert, the
 * delete of what was taken; one transaction), batch after batch until the inbox is empty or the
 * time budget is spent. Holds the shard's advisory lock meanwhile, and looks into the inbox once
 * more after releasing it: an API that found the lock held skipped its wake-up, trusting that look.
 */
export function createApplyInbox({ pool }: { pool: pg.Pool }, opts: ApplyOptions = {}) {
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
    const signals = new TargetSignals(integrationId, () => client);
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

    client = await (own ??= applyPool(pool)).connect();
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
      for (;;) {
        try {
          if (!locked && !(locked = await lockSoon(client, integrationId, shard))) break;
          const o = await run(null);
          if (o.taken > 0) result.batches += 1;
          failing = undefined;
          add(o);
          // The rows are committed: wake the on-insert targets now, not when this apply ends.
          await signals.flush(false);
          // A busy shard keeps this apply going (cheap looks into the inbox while rows keep
          // arriving): one wake-up and one activity per time budget, not per group of events;
          // unless other applies wait for a connection.
          const contended = own!.waitingCount > 0;
          if (o.taken === 0 && result.taken > 0 && !contended && (await linger(client, integrationId, shard, budgetMs - (Date.now() - started)))) continue;
          if (o.taken === 0) {
            // Rows committed while the lock was held, by an API that then skipped its wake-up.
            if (!(await releaseAndLook())) break;
            continue;
          }
          if (Date.now() - started >= budgetMs || contended) {
            result.more = true;
            break;
          }
        } catch (err) {
          if (isConnectionError(err)) {
            broken = true;
            throw ApplicationFailure.retryable(`the apply lost its database connection: ${summarize(err)}`, 'InboxApplyFailed');
          }
          if ((err as { code?: string }).code === '42P01') {
            // Its table is gone (`integrations delete`): the next attempt finds the integration gone
            // and keeps what waits as dead letters.
            forgetIntegrationRef(integrationId);
            statements.delete(integrationId);
            throw ApplicationFailure.retryable(`the table of ${integrationId} is gone: ${summarize(err)}`, 'InboxApplyFailed');
          }
          if (isDataError(err)) {
            result.batches += 1;
            add(await isolate(run, client, integrationId, shard, batchLimit, err));
            continue;
          }
          const now = Date.now();
          failing = { error: summarize(err), since: failing?.since ?? new Date(now).toISOString(), attempts: (failing?.attempts ?? 0) + 1 };
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
      await signals.flush(true, !broken);
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

/**
 * The `rowsChanged` signals of one apply: one per on-insert target as soon as a statement changed
 * rows, then at most every 100 ms while the apply goes on, and a last one for what changed since.
 * Sent from here (the worker's client) rather than by the workflow: a workflow's signals leave
 * only when its task ends, which is when this apply ends. A failure is logged, not fatal.
 */
class TargetSignals {
  private readonly owed = new Set<string>();
  private lastAt = 0;
  private txid?: string;

  constructor(
    private readonly integrationId: string,
    private readonly db: () => pg.PoolClient | undefined,
  ) {}

  changed(targetIds: string[], txid?: string): void {
    for (const t of targetIds) this.owed.add(t);
    if (targetIds.length && txid && (!this.txid || BigInt(txid) > BigInt(this.txid))) this.txid = txid;
  }

  /** Never rejects. `waitReadable`: false when the connection is in doubt. */
  async flush(last: boolean, waitReadable = true): Promise<void> {
    if (this.owed.size === 0 || (!last && Date.now() - this.lastAt < SIGNAL_SPACING_MS)) return;
    const ids = [...this.owed];
    this.owed.clear();
    this.lastAt = Date.now();
    if (waitReadable) await this.readable().catch(() => {});
    const client = Context.current().client;
    await Promise.all(
      ids.map(async (targetId) => {
        try {
          await client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => client.workflow.getHandle(httpSyncWorkflowId(targetId)).signal(rowsChangedSignal));
          targetSignals.inc({ outcome: 'sent' });
        } catch (err) {
          targetSignals.inc({ outcome: 'failed' });
          log.warn('could not signal rowsChanged to an on-insert target; it syncs at its next period', {
            integrationId: this.integrationId,
            targetId,
            error: (err as Error).message,
          });
        }
      }),
    );
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

/** Counted as each statement commits, so /metrics follows a long apply. */
function count(applied: number, discarded: number, deadLettered: number): void {
  if (applied) eventsApplied.inc({ outcome: 'applied' }, applied);
  if (discarded) eventsApplied.inc({ outcome: 'discarded' }, discarded);
  if (deadLettered) eventsApplied.inc({ outcome: 'dead_lettered' }, deadLettered);
}

/** Waits (a few polls) for rows to arrive in the shard's inbox; false when none came. */
async function linger(client: pg.PoolClient, integrationId: string, shard: number, leftMs: number): Promise<boolean> {
  for (let poll = 0; poll < LINGER.polls && leftMs > poll * LINGER.pollMs; poll++) {
    await sleep(LINGER.pollMs);
    if (await shardHasRows(client, integrationId, shard)) return true;
  }
  return false;
}

/** The shard's lock, waiting briefly: an API's check holds it (shared) for a moment only. */
async function lockSoon(client: pg.PoolClient, integrationId: string, shard: number): Promise<boolean> {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (await tryLockShard(client, integrationId, shard)) return true;
    await sleep(5);
  }
  return false;
}

/**
 * A batch the database refused: apply it in halves, down to the single events it refuses, which go
 * to the dead letters with their error. The others are applied as usual.
 */
async function isolate(
  run: (ids: string[]) => Promise<BatchOutcome>,
  client: pg.PoolClient,
  integrationId: string,
  shard: number,
  limit: number,
  firstError: unknown,
): Promise<BatchOutcome> {
  const total: BatchOutcome = { taken: 0, applied: 0, deadLettered: 0, targets: [] };
  const visit = async (ids: string[], known?: unknown): Promise<void> => {
    if (ids.length === 0) return;
    let err = known;
    if (err === undefined) {
      try {
        const o = await run(ids);
        total.taken += o.taken;
        total.applied += o.applied;
        total.targets.push(...o.targets);
        if (o.upTo && (!total.upTo || BigInt(o.upTo) > BigInt(total.upTo))) total.upTo = o.upTo;
        return;
      } catch (e) {
        if (!isDataError(e)) throw e;
        err = e;
      }
    }
    if (ids.length === 1) {
      const moved = await deadLetter(client, integrationId, shard, ids, describe(err));
      total.taken += moved;
      total.deadLettered += moved;
      log.error('event refused by the database; moved to the dead letters', { integrationId, shard, position: ids[0], error: summarize(err) });
      return;
    }
    const half = Math.ceil(ids.length / 2);
    await visit(ids.slice(0, half));
    await visit(ids.slice(half));
  };
  // The batch that failed was (up to rows locked elsewhere) these oldest rows: split them at once.
  await visit(await oldestIds(client, integrationId, shard, limit), firstError);
  return total;
}

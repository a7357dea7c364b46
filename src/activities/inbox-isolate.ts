import { log } from '@temporalio/activity';
import type pg from 'pg';
import { deadLetter, oldestIds } from '../db/inbox';
import { isDataError } from '../db/sql-errors';
import { safeErrorText } from '../db/pg-error';

/** What one statement (or a batch taken apart) did to a shard's inbox. */
export interface BatchOutcome {
  taken: number;
  applied: number;
  deadLettered: number;
  upTo?: string;
  /** The statement's transaction: its rows are readable by a page query once every older one has ended. */
  txid?: string;
  targets: string[];
}

/** What a dead letter records: SQLSTATE, message and detail (it stays in PostgreSQL, beside the event). */
const describe = (err: unknown) => {
  const e = err as { code?: string; message?: string; detail?: string };
  return `${e.code ?? 'error'}: ${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}`.slice(0, 2_000);
};

/**
 * A batch the database refused: apply it in halves, down to the single events it refuses, which go
 * to the dead letters with their error. The others are applied as usual.
 */
export async function isolate(
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
      log.error('event refused by the database; moved to the dead letters', { integrationId, shard, position: ids[0], error: safeErrorText(err) });
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

import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { integrationRef } from '../db/integration-tables';
import { getTarget, recordDelivered, recordFailure } from '../db/targets';
import { heldBackSql, pageSql } from '../integrations/sql';
import { deliveryFailures, failureReason, pagesDelivered, postLatency, rowsDelivered } from '../metrics';
import { postPage } from '../http/post-page';
import { parseTargetUrl, type TargetUrl } from '../http/target-url';
import type { Cursor, DeliverFailureDetails, DeliverInput, DeliverResult } from '../workflows/types';

/**
 * How long one activity keeps draining before it returns its cursor to the workflow: long enough
 * that Temporal's cost is paid per drain, short enough that the workflow's state (and the UI)
 * follows along and that pause/update land promptly.
 */
export const DRAIN_BUDGET_MS = 10_000;

interface Page {
  rows: string[];
  first?: Cursor;
  last?: Cursor;
}

const lockSql = `SELECT pg_try_advisory_lock(hashtextextended('hooksync-target:' || $1, 0)) AS locked`;
const unlockSql = `SELECT pg_advisory_unlock(hashtextextended('hooksync-target:' || $1, 0))`;

export function createDeliverPages({ pool }: { pool: pg.Pool }) {
  return async function deliverPages(input: DeliverInput): Promise<DeliverResult> {
    const ctx = Context.current();
    const result: DeliverResult = { cursor: input.cursor, rows: 0, pages: 0, postCount: 0, postMsTotal: 0, more: false };
    const fail = (message: string, retryAfterMs?: number) =>
      ApplicationFailure.create({
        message,
        type: 'DeliveryFailed',
        details: [{ partial: { ...result }, retryAfterMs } satisfies DeliverFailureDetails],
      });

    // A dedicated connection holds the target's lock for the whole activity: even a worker that
    // lost its heartbeat but still runs cannot POST beside its successor.
    const db = await pool.connect();
    let locked = false;
    const heartbeat = setInterval(() => ctx.heartbeat(result), 2_000);
    try {
      locked = (await db.query<{ locked: boolean }>(lockSql, [input.targetId])).rows[0]!.locked;
      if (!locked) throw fail('another delivery to this target is still running');
      const target = await getTarget(db, input.targetId);
      if (!target || target.deleted_at) {
        throw ApplicationFailure.nonRetryable(`target ${input.targetId} was deleted`, 'TargetGone');
      }
      if (target.paused) return { ...result, stopped: 'paused' };

      let url: TargetUrl;
      try {
        url = parseTargetUrl(target.url, { allowHttp: true });
      } catch (err) {
        throw fail(`stored URL is unusable: ${(err as Error).message}`);
      }
      const ref = (await integrationRef(pool, target.integration_id))!;
      const query = pageSql(ref.descriptor, ref.table);
      const fetchPage = async (after: Cursor): Promise<Page> => {
        const { rows } = await db.query<{ txid: string; seq: string; json: string }>(query, [after.txid, after.seq, input.pageSize]);
        const first = rows[0];
        const last = rows[rows.length - 1];
        return {
          rows: rows.map((r) => r.json),
          first: first && { txid: first.txid, seq: first.seq },
          last: last && { txid: last.txid, seq: last.seq },
        };
      };
      const envelope = (rows: string[]) =>
        `{"rows":[${rows.join(',')}],"integration_id":${JSON.stringify(ref.id)},"integration_service":${JSON.stringify(ref.service)},` +
        `"table":${JSON.stringify(ref.table)},"sync_timestamp":${JSON.stringify(new Date().toISOString())}}`;

      const deadline = Date.now() + DRAIN_BUDGET_MS;
      let page = await fetchPage(result.cursor);
      while (page.last) {
        const from = page.first!;
        const to = page.last;
        // Read the next page while this one is in flight; it is used only after a 2xx.
        const next = page.rows.length === input.pageSize ? fetchPage(to) : undefined;
        next?.catch(() => {});
        const outcome = await postPage(
          url,
          envelope(page.rows),
          {
            // The same page is the same rows: the id is the positions of its first and last row
            // (a row version's position is unique, and rows only ever leave that range), so it
            // does not depend on where the sender resumed, e.g. after a worker crash.
            'hooksync-page-id': `${input.targetId}:${from.txid}.${from.seq}-${to.txid}.${to.seq}`,
            'hooksync-target-id': input.targetId,
          },
          input.timeoutSeconds * 1000,
          ctx.cancellationSignal,
        );
        result.postCount += 1;
        result.postMsTotal += outcome.ms;
        // Ids, numbers and the error text only: never the URL (its credentials) or the rows.
        const labels = { target: input.targetId, integration: ref.id };
        const logged = { targetId: input.targetId, integrationId: ref.id, page: input.firstPage + result.pages, rows: page.rows.length, ms: Math.round(outcome.ms) };
        postLatency.observe(labels, outcome.ms / 1000);
        if (!outcome.ok) {
          deliveryFailures.inc({ ...labels, reason: failureReason(outcome) });
          log.warn('POST failed; the page is retried', { ...logged, status: outcome.status, error: outcome.error, retryAfterMs: outcome.retryAfterMs });
          await next?.catch(() => {});
          await recordFailure(db, input.targetId, outcome.error!, outcome.ms).catch(() => {});
          throw fail(outcome.error!, outcome.retryAfterMs);
        }
        result.cursor = to;
        result.rows += page.rows.length;
        result.pages += 1;
        rowsDelivered.inc(labels, page.rows.length);
        pagesDelivered.inc(labels);
        log.info('page delivered', { ...logged, status: outcome.status, cursor: `${to.txid}/${to.seq}` });
        ctx.heartbeat(result);
        const now = await recordDelivered(db, input.targetId, { cursor: to, rows: page.rows.length, postMs: outcome.ms });
        if (!now || now.deleted) {
          await next?.catch(() => {});
          return { ...result, stopped: 'deleted' };
        }
        if (now.paused) {
          await next?.catch(() => {});
          return { ...result, stopped: 'paused' };
        }
        if (now.url !== target.url) {
          target.url = now.url;
          url = parseTargetUrl(now.url, { allowHttp: true });
        }
        page = next ? await next : await fetchPage(to);
        if (page.last && Date.now() > deadline) {
          result.more = true;
          break;
        }
      }
      if (!result.more) {
        // Nothing left to read, but rows an older open transaction holds back: the workflow looks
        // again soon (they become readable when it ends, and no signal says when).
        const held = await db.query<{ held: boolean }>(heldBackSql(ref.table), [result.cursor.txid, result.cursor.seq]);
        if (held.rows[0]?.held) result.heldBack = true;
      }
      return result;
    } finally {
      clearInterval(heartbeat);
      if (locked) {
        await db.query(unlockSql, [input.targetId]).then(
          () => db.release(),
          (err: Error) => db.release(err),
        );
      } else {
        db.release();
      }
    }
  };
}

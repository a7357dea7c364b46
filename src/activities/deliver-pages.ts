import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type pg from 'pg';
import { integrationRef, pageReader, rowsHeldBack } from '../db/integration-tables';
import { cursorAhead, cursorOf, dropExpiredSigningSecret, getTarget, recordDelivered, recordFailure, type TargetRow } from '../db/targets';
import { releaseDeliveryLock, tryDeliveryLock } from '../db/delivery-lock';
import { endRetry } from '../db/target-wake-state';
import { sendPage } from '../delivery/page';
import type { PostOutcome } from '../http/post-page';
import { filterOf } from '../db/target-filters';
import { signingSecretsOf } from '../delivery/signature';
import type { Keyring } from '../secrets/keyring';
import { openSecret } from '../secrets/stored';
import { deliveryFailures, failureReason, pagesDelivered, postLatency, rowsDelivered } from '../metrics';
import { parseTargetUrl, type TargetUrl } from '../http/target-url';
import { retryDelayMs } from '../contract/retry';
import { safeErrorText } from '../db/pg-error';
import type { Cursor } from '../contract/cursor';
import { generationBehindWarning } from '../contract/cursor';
import { DRAIN_BUDGET_MS } from '../contract/delivery';
import { SETTINGS_BOUNDS } from '../contract/target-settings';
import { announcePost, clearPost, IN_FLIGHT_MARGIN_MS, waitForPostInFlight } from '../db/post-in-flight';
import type { DeliverFailureDetails, DeliverInput, DeliverResult } from '../contract/delivery';
import { LINGER_MS, type Linger, type LingeringDrains } from './lingering-drains';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a delivery waits for the target's lock (an `update` verifying a new URL holds it meanwhile). */
const LOCK_WAIT_MS = 8_000;

/** The outcome of a page with nothing to send (see PageRows): as a 2xx, without a POST. */
const PASSED: PostOutcome = { ok: true, ms: 0 };

const newer = (a: Cursor, b: Cursor) => (BigInt(a.txid) !== BigInt(b.txid) ? BigInt(a.txid) > BigInt(b.txid) : BigInt(a.seq) > BigInt(b.seq));

/** A failure that says what it was, with what got through before it (always: see `deliverPages`). */
class DeliveryError extends Error {
  constructor(
    message: string,
    readonly postMs?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export function createDeliverPages({ pool, keyring, drains }: { pool: pg.Pool; keyring?: Keyring; drains?: LingeringDrains }) {
  return async function deliverPages(input: DeliverInput): Promise<DeliverResult> {
    const ctx = Context.current();
    const result: DeliverResult = {
      cursor: input.cursor,
      generation: input.generation ?? 0,
      rows: 0,
      pages: 0,
      postCount: 0,
      postMsTotal: 0,
      more: false,
    };
    let labels = { target: input.targetId, integration: '' };
    // A dedicated connection holds the target's lock for the whole activity: even a worker that
    // lost its heartbeat but still runs cannot POST beside its successor.
    const db = await pool.connect().catch(async (err: Error) => {
      throw await failure(new DeliveryError(`the database is unreachable: ${safeErrorText(err)}`));
    });
    let locked = false;
    // The lock lives in this session: once it is gone (a PostgreSQL crash, a cut connection),
    // another delivery may hold the lock, so no further POST leaves this activity.
    let sessionLost: Error | undefined;
    const onLost = (err: Error) => void (sessionLost ??= err);
    db.on('error', onLost);
    const onEnd = () => onLost(new Error('connection ended'));
    db.on('end', onEnd);
    // A POST announced (announcePost) whose end is not yet recorded.
    let announced: string | undefined;
    // Only cursors made durable leave the database: `result.cursor` moves only after the page's
    // synchronous announcement (see announcePost), and this heartbeat sends nothing else. Every
    // 2 s, not per page: a drain that lost its worker starts again from the database's cursor,
    // which each page's record moves.
    const heartbeat = setInterval(() => ctx.heartbeat(result), 2_000);
    let linger: Linger | undefined;
    try {
      locked = await lockWithin(db, input.targetId, LOCK_WAIT_MS, ctx.cancellationSignal);
      if (!locked) throw new DeliveryError('another delivery to this target (or an update verifying its URL) is still running');
      // Lock-delay: the previous holder may have lost its session with its POST still in flight.
      const waited = await waitForPostInFlight(db, input.targetId, SETTINGS_BOUNDS.timeoutSeconds.max * 1000 + IN_FLIGHT_MARGIN_MS, ctx.cancellationSignal);
      if (waited > 0) log.warn('waited for a POST of an earlier delivery that lost its lock', { targetId: input.targetId, ms: waited });
      const target = await getTarget(db, input.targetId);
      if (!target || target.deleted_at) {
        throw ApplicationFailure.nonRetryable(`target ${input.targetId} was deleted`, 'TargetGone');
      }
      labels = { target: input.targetId, integration: target.integration_id };
      // Start from the further of the workflow's cursor and the database's (every 2xx is recorded
      // there): a workflow started again, or one whose last heartbeat was lost, sends nothing
      // twice. After a reset the workflow has not heard of, the database's generation wins.
      const dbCursor = cursorOf(target);
      if (target.cursor_generation < result.generation) {
        // A database restored from before a reset: nothing could be recorded here, and the same
        // pages would go out for ever. Stopped (retried with backoff, no POST) until a reset.
        throw new DeliveryError(generationBehindWarning(input.targetId, target.cursor_generation, result.generation));
      }
      if (target.cursor_generation !== result.generation) {
        if (target.cursor_generation > result.generation) {
          result.cursor = dbCursor;
          result.resetAt = target.reset_at?.toISOString();
        }
        result.generation = target.cursor_generation;
      } else if (newer(dbCursor, result.cursor)) {
        result.cursor = dbCursor;
      }
      if (cursorAhead(result.cursor, target.next_txid)) {
        result.cursorAhead = { nextTxid: target.next_txid };
        log.error('the cursor is ahead of this database\'s transaction counter: restored or moved to another cluster? Rows written since are not delivered', {
          targetId: input.targetId,
          cursor: `${result.cursor.txid}/${result.cursor.seq}`,
          nextTxid: target.next_txid,
        });
      }
      if (target.paused) return { ...result, stopped: 'paused' };

      // The stored secrets, opened with HOOKSYNC_ENCRYPTION_KEY; a key that does not fit is an
      // error the workflow shows and retries (nothing is skipped while the key is fixed).
      const openUrl = (stored: string): TargetUrl => {
        try {
          return parseTargetUrl(openSecret(keyring, 'sync_targets.url', input.targetId, stored), { allowHttp: true });
        } catch (err) {
          throw new DeliveryError(`stored URL is unusable: ${(err as Error).message}`);
        }
      };
      const openSigning = (t: Parameters<typeof signingSecretsOf>[0]): string[] => {
        try {
          return signingSecretsOf(t, keyring);
        } catch (err) {
          throw new DeliveryError(`the signing secret cannot be read: ${(err as Error).message}`);
        }
      };
      let url = openUrl(target.url);
      let signing = openSigning(target);
      if (target.signing_secret_previous_expires_at && target.signing_secret_previous_expires_at.getTime() <= Date.now()) {
        await dropExpiredSigningSecret(db, input.targetId);
      }
      const ref = (await integrationRef(pool, target.integration_id))!;
      // The target's filter, read under its lock: an `update` that changes it waits for this delivery.
      const readPage = pageReader(db, ref, input.pageSize, filterOf(target));
      // A page read while no POST is in flight announces its own POST in the same statement; one
      // read ahead during a POST is announced once that POST is recorded (its record clears it).
      const announcement = { targetId: input.targetId, timeoutMs: input.timeoutSeconds * 1000, generation: result.generation };
      const fetchPage = async (after: Cursor) => {
        const read = await readPage(after, announcement);
        // Cleared at the end if its POST is not sent (the budget spent, a failure before it).
        if (read.announced) announced = read.announced;
        return read;
      };

      const deadline = Date.now() + DRAIN_BUDGET_MS;
      // Registered from here to the end: rows this process's applies commit for the target while
      // it runs are read by this drain, for up to LINGER_MS after it found no page.
      if (target.mode === 'on_insert') linger = drains?.enter(input.targetId);
      let page = await fetchPage(result.cursor);
      let readAt = Date.now();
      // When a read last found rows, and the step of the looks for rows held back (0: none are).
      let foundAt = readAt;
      let heldMs = 0;
      for (;;) {
        while (page.last) {
          // Synchronous, on the lock's session (by the read itself, or here for a page read ahead):
          // fails if the lock is gone, and flushes the page's rows.
          announced = page.announced === undefined ? await announcePost(db, input.targetId, announcement.timeoutMs, result.generation) : (page.announced ?? undefined);
          if (sessionLost) throw new DeliveryError(`the delivery lock's database session was lost: ${sessionLost.message}`);
          if (announced === undefined) return { ...result, stopped: stopReason(await getTarget(db, input.targetId), result.generation) };
          // Read the next page while this one is in flight; it is used only after a 2xx. A failed
          // read fails the activity below (with what was delivered until then), not here.
          const next = page.read === input.pageSize ? readPage(page.last) : undefined;
          next?.catch(() => {});
          // A filter left every row of the page out: nothing to POST, the cursor moves past it.
          const outcome = page.rows.length === 0 ? PASSED : await sendPage(
            url,
            ref,
            { kind: 'rows', targetId: input.targetId, rows: page.rows, first: page.first!, last: page.last, generation: result.generation },
            signing,
            input.timeoutSeconds * 1000,
            ctx.cancellationSignal,
          );
          const posted = outcome !== PASSED;
          result.postCount += posted ? 1 : 0;
          result.postMsTotal += outcome.ms;
          // Ids, numbers and the error text only: never the URL (its credentials) or the rows.
          const logged = { targetId: input.targetId, integrationId: ref.id, page: input.firstPage + result.pages, rows: page.rows.length, ms: Math.round(outcome.ms) };
          if (posted) postLatency.observe(labels, outcome.ms / 1000);
          if (!outcome.ok) {
            deliveryFailures.inc({ ...labels, reason: failureReason(outcome) });
            log.warn('POST failed; the page is retried', { ...logged, status: outcome.status, error: outcome.error, retryAfterMs: outcome.retryAfterMs });
            await next?.catch(() => {});
            throw new DeliveryError(outcome.error!, outcome.ms, outcome.retryAfterMs);
          }
          // Delivered: from here on this page counts, whatever fails next.
          foundAt = Date.now();
          result.cursor = page.last;
          result.rows += page.rows.length;
          result.pages += posted ? 1 : 0;
          rowsDelivered.inc(labels, page.rows.length);
          if (posted) pagesDelivered.inc(labels);
          log.info(posted ? 'page delivered' : 'page read, no row matches the filter', { ...logged, status: outcome.status, cursor: `${page.last.txid}/${page.last.seq}` });
          const now = await recordDelivered(db, input.targetId, { cursor: page.last, generation: result.generation, rows: page.rows.length, postMs: outcome.ms, posted });
          announced = undefined;
          if (now === undefined || now === 'reset' || now.deleted || now.paused) {
            await next?.catch(() => {});
            return { ...result, stopped: now === 'reset' ? 'reset' : now === undefined || now.deleted ? 'deleted' : 'paused' };
          }
          if (now.url !== target.url) {
            // New credentials (an `update`, verified under this target's lock): the next page uses them.
            target.url = now.url;
            url = openUrl(now.url);
          }
          if (now.signing_secret !== target.signing_secret || now.signing_secret_previous !== target.signing_secret_previous) {
            // A rotated signing secret signs the next page (and the previous one beside it for a day).
            Object.assign(target, { signing_secret: now.signing_secret, signing_secret_previous: now.signing_secret_previous });
            target.signing_secret_previous_expires_at = now.signing_secret_previous_expires_at;
            signing = openSigning(target);
          }
          page = next ? await next : await fetchPage(page.last);
          readAt = Date.now();
          if (page.last && Date.now() > deadline) {
            result.more = true;
            break;
          }
        }
        if (result.more || !linger || drains!.crowded()) break;
        // No page left: wait a little for rows this process's applies announce, then read them
        // (spaced by a slice), as long as the budget lasts. Rows announced once the budget is
        // spent: `more`, and the workflow runs the next drain at once. Announced rows that an
        // older open transaction still holds back are looked for again soon, every 10 to 200 ms.
        const until = Math.min(foundAt + LINGER_MS, deadline);
        if (heldMs > 0 && Date.now() + heldMs < until) {
          await linger.wait(heldMs, ctx.cancellationSignal, true);
          if (ctx.cancellationSignal.aborted) break;
        } else if (!(await linger.wait(until - Date.now(), ctx.cancellationSignal))) break;
        if (Date.now() >= deadline) {
          result.more = true;
          break;
        }
        const spacing = readAt + drains!.sliceMs() - Date.now();
        if (spacing > 0) await sleep(spacing);
        linger.pending = false;
        page = await fetchPage(result.cursor);
        readAt = Date.now();
        if (page.last) {
          foundAt = readAt;
          heldMs = 0;
        } else {
          heldMs = (await rowsHeldBack(db, ref.table, result.cursor)) ? Math.min(200, Math.max(10, heldMs * 2)) : 0;
        }
      }
      // Rows announced from here on take the Temporal wake-up; rows announced before and not read
      // (the drain ended for a crowded pool or a cancellation) need the next drain at once.
      linger?.leave();
      if (linger?.pending) result.more = true;
      if (!result.more) {
        // Nothing left to read, but rows an older open transaction holds back: the workflow looks
        // again soon (they become readable when it ends, and no signal says when).
        if (await rowsHeldBack(db, ref.table, result.cursor)) result.heldBack = true;
      }
      if (result.pages === 0 && target.next_attempt_at) await endRetry(db, input.targetId);
      return result;
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      // Whatever failed (a POST, the database, a page read ahead), the failure carries the pages
      // delivered before it, so the workflow's cursor and the page ids stay exact.
      const e = err instanceof DeliveryError ? err : new DeliveryError(`delivery failed: ${safeErrorText(err)}`);
      if (!(err instanceof DeliveryError)) log.warn('delivery failed', { targetId: input.targetId, error: e.message, pagesDelivered: result.pages });
      throw await failure(e);
    } finally {
      clearInterval(heartbeat);
      linger?.leave();
      db.off('error', onLost);
      db.off('end', onEnd);
      // The POST announced last has ended: whoever waits for it may go on. Through the pool, as
      // the lock's session may be the one that failed; only this announcement is cleared.
      if (announced) await clearPost(pool, input.targetId, announced).catch(() => {});
      if (sessionLost) {
        db.release(sessionLost);
      } else if (locked) {
        await releaseDeliveryLock(db, input.targetId).then(
          () => db.release(),
          (err: Error) => db.release(err),
        );
      } else {
        db.release();
      }
    }

    async function failure(e: DeliveryError): Promise<ApplicationFailure> {
      const attempts = input.attempt ?? 1;
      const delayMs = retryDelayMs(attempts, e.retryAfterMs, Math.random(), input.retrySchedule);
      // For `info` and /metrics when the workflow cannot be asked (the workflow keeps its own
      // record); not waited for long when the database is what failed.
      const recorded = recordFailure(pool, input.targetId, { error: e.message, postMs: e.postMs, attempts, nextAttemptAt: new Date(Date.now() + delayMs) });
      await Promise.race([recorded.catch(() => {}), new Promise((r) => setTimeout(r, 2_000).unref())]);
      return ApplicationFailure.create({
        message: e.message,
        type: 'DeliveryFailed',
        details: [{ partial: { ...result }, retryAfterMs: e.retryAfterMs, retryDelayMs: delayMs } satisfies DeliverFailureDetails],
      });
    }
  };
}

/** Why a target may not be posted to (announcePost refused): deleted, paused or reset past `generation`. */
function stopReason(t: TargetRow | undefined, generation: number): DeliverResult['stopped'] {
  if (!t || t.deleted_at) return 'deleted';
  if (t.cursor_generation !== generation) return 'reset';
  return 'paused';
}

/** Tries the target's delivery lock until `waitMs` has passed (a lock held by an `update` is let go within seconds). */
async function lockWithin(db: pg.PoolClient, targetId: string, waitMs: number, signal: AbortSignal): Promise<boolean> {
  const until = Date.now() + waitMs;
  for (;;) {
    if (await tryDeliveryLock(db, targetId)) return true;
    if (Date.now() >= until || signal.aborted) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

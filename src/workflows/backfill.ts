import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BackfillInput, BackfillStatus, FetchPagesFailureDetails, FetchPagesResult } from '../contract/backfill';
import { backfillDetails, pagesSummary, retryTimerSummary } from './backfill-view';
import { retryDelayMs } from '../contract/retry';
import { backfillStatusQuery } from '../contract/messages';
import { DEFAULT_HISTORY_LIMIT } from '../contract/httpsync';

// One activity lists pages for a time budget, heartbeating its cursor after every page it
// upserted: Temporal's cost is paid per budget, not per page, and the cursor reaches the workflow
// state at the end of each. Retries are the workflow's own (as for HTTP Sync): each failed attempt,
// a 429 above all, is state the query and the details show, and the wait (Retry-After, else
// capped exponential backoff) is a timer of this workflow.
const { fetchBackfillPages } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 1 },
});

/** `backfill-<integrationId>`: lists the upstream's resources page by page into the integration's table. */
export async function backfillWorkflow(input: BackfillInput): Promise<BackfillStatus> {
  const s: BackfillStatus = input.status
    ? { ...input.status, runs: input.status.runs + 1 }
    : { integrationId: input.integrationId, state: 'running', apiBase: input.apiBase, pages: 0, rows: 0, applied: 0, startedAt: new Date().toISOString(), runs: 1 };
  setHandler(backfillStatusQuery, () => s);
  const show = () => setCurrentDetails(backfillDetails(s));
  const limit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const rollOverDue = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= limit;
  const add = (r: FetchPagesResult) => {
    if (r.cursor !== undefined) s.cursor = r.cursor;
    s.pages += r.pages;
    s.rows += r.rows;
    s.applied += r.applied;
    if (r.lastPageAt) s.lastPageAt = r.lastPageAt;
  };
  show();

  while (s.state === 'running' || s.state === 'retrying') {
    if (rollOverDue()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof backfillWorkflow>({ ...input, status: s });
    }
    const waitMs = s.retry ? Date.parse(s.retry.nextAttemptAt) - Date.now() : 0;
    if (waitMs > 0) {
      await condition(() => false, waitMs, { summary: retryTimerSummary(waitMs, s.retry!.error) });
      continue;
    }
    try {
      const r = await fetchBackfillPages.executeWithOptions({ summary: pagesSummary(s.pages + 1, s.cursor) }, [
        { integrationId: input.integrationId, apiBase: input.apiBase, cursor: s.cursor },
      ]);
      add(r);
      s.retry = undefined;
      s.state = r.done ? 'done' : 'running';
    } catch (err) {
      const f = describeFailure(err);
      if (f.partial) add(f.partial);
      s.lastError = f.message;
      if (f.permanent) {
        s.retry = undefined;
        s.state = 'failed';
      } else {
        // Pages listed before the failure count as progress: the backoff starts over.
        const attempts = f.partial?.pages ? 1 : (s.retry?.attempts ?? 0) + 1;
        const now = Date.now();
        const delay = retryDelayMs(attempts, f.retryAfterMs, Math.random());
        s.retry = { since: (attempts > 1 && s.retry?.since) || new Date(now).toISOString(), attempts, nextAttemptAt: new Date(now + delay).toISOString(), error: f.message };
        s.state = 'retrying';
      }
    }
    show();
  }
  s.finishedAt = new Date().toISOString();
  show();
  return s;
}

interface Failure {
  message: string;
  permanent: boolean;
  partial?: FetchPagesResult;
  retryAfterMs?: number;
}

/** What a failed activity tells: its error, the pages it listed before, and the upstream's Retry-After. */
function describeFailure(err: unknown): Failure {
  if (!(err instanceof ActivityFailure)) throw err;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as FetchPagesFailureDetails | undefined;
    return { message: cause.message, permanent: cause.nonRetryable === true, partial: details?.partial, retryAfterMs: details?.retryAfterMs };
  }
  if (cause instanceof TimeoutFailure) {
    // The worker died or hung: its last heartbeat says how far it got.
    const partial = cause.lastHeartbeatDetails as FetchPagesResult | undefined;
    return { message: `listing ${cause.timeoutType === 'HEARTBEAT' ? 'stopped heartbeating (worker lost?)' : 'timed out'}`, permanent: false, partial };
  }
  return { message: cause?.message ?? err.message, permanent: false };
}

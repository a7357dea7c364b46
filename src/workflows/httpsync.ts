import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { settingsProblems } from '../contract/target-settings';
import type { FailureView } from './httpsync-outcomes';
import { TargetState } from './httpsync-state';
import { deliverySummary, detailsMarkdown, timerSummary } from './httpsync-view';
import {
  configureSignal,
  configureUpdate,
  deleteSignal,
  pauseSignal,
  resetSignal,
  resumeSignal,
  rowsChangedSignal,
  statusQuery,
  triggerSignal,
} from '../contract/messages';
import type { DeliverFailureDetails, DeliverResult } from '../contract/delivery';
import type { DeliveryProgress, HttpSyncInput, SyncState } from '../contract/httpsync';
import { DEFAULT_HISTORY_LIMIT } from '../contract/httpsync';

// Retries are the workflow's own (docs/design.md, "Retries"): each failed attempt is workflow
// state, so the status query, the current details and `info` show its count, error and next
// time, and a trigger can cut the wait short. One attempt per activity also means two POSTs of
// one target never overlap.
const { deliverPages } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/**
 * Since this patch, new rows (`rowsChanged`) start a sync but never cut a retry's wait short
 * (a Retry-After holds); before it, they woke the workflow as `trigger` does. Runs started
 * before it keep the old way until they continue as new.
 */
export const ROWS_KEEP_RETRY = 'rows-changed-keeps-retry-wait';

/** One long-running workflow per HTTP Sync target: wait, drain page after page, retry, repeat. */
export async function httpSyncWorkflow(input: HttpSyncInput): Promise<DeliveryProgress> {
  const s = new TargetState(input, Date.now());
  const rowsKeepRetry = patched(ROWS_KEEP_RETRY);
  let phase: SyncState = 'waiting';
  const show = (p: SyncState) => {
    phase = p;
    setCurrentDetails(detailsMarkdown(s.status(p, Date.now())));
  };
  // Checked before every activity and timer, and by every wait: each run stays bounded whatever
  // it is doing (waiting, draining, retrying, paused, flooded with signals).
  const limit = input.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  const rollOverDue = () => s.summaryStale || workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= limit;

  setHandler(triggerSignal, () => void (s.wake = true));
  setHandler(rowsChangedSignal, () => {
    if (s.settings.mode !== 'on_insert') return;
    if (rowsKeepRetry) s.rowsChanged = true;
    else s.wake = true;
  });
  setHandler(pauseSignal, () => s.pause());
  setHandler(resumeSignal, () => s.resume());
  setHandler(configureSignal, (change) => {
    const refused = s.change(change);
    if (refused.length > 0) log.warn('configure: refused a part of the change', { targetId: s.targetId, refused });
    show(phase);
  });
  setHandler(
    configureUpdate,
    (change) => {
      s.change(change);
      show(phase);
      return { ...s.settings };
    },
    {
      validator: (change) => {
        const problems = settingsProblems(change);
        if (problems.length > 0) throw new Error(problems.join('; '));
      },
    },
  );
  setHandler(resetSignal, (r) => {
    if (s.reset(r)) show(phase);
  });
  setHandler(deleteSignal, () => void (s.deleted = true));
  setHandler(statusQuery, () => s.status(phase, Date.now()));

  while (!s.deleted) {
    if (rollOverDue()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof httpSyncWorkflow>(s.carry(input));
    }
    if (s.settings.paused) {
      show('paused');
      await condition(() => !s.settings.paused || s.deleted || rollOverDue());
      continue;
    }
    const waitMs = s.waitMs(Date.now());
    if (waitMs > 0) {
      const kind = s.waitKind(Date.now());
      s.reconfigured = false;
      show(kind === 'retry' ? 'retrying' : 'waiting');
      const summary = timerSummary(kind, waitMs, s.settings.mode, s.retry?.error);
      // A trigger retries at once (new rows do not); pause and delete stop retrying; new settings work out the wait again.
      await condition(() => s.woken || s.reconfigured || s.interrupted || rollOverDue(), waitMs, { summary });
      continue;
    }
    s.startAttempt();
    show(s.retry ? 'retrying' : 'delivering');
    try {
      const r = await deliverPages.executeWithOptions(
        {
          summary: deliverySummary(s.progress.pagesDelivered + 1, s.settings.pageSize),
          startToCloseTimeout: `${60 + 3 * s.settings.timeoutSeconds} seconds`,
        },
        [s.deliveryInput()],
      );
      s.delivered(r, Date.now());
    } catch (err) {
      const failure = describeFailure(err);
      if (failure.targetGone) s.deleted = true;
      else s.failed(failure, Date.now(), Math.random());
    }
  }
  show('deleted');
  return s.progress;
}

/** What a failed delivery activity tells: its error, and the pages it delivered before failing. */
function describeFailure(err: unknown): FailureView {
  if (!(err instanceof ActivityFailure)) throw err;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as DeliverFailureDetails | undefined;
    return {
      message: cause.message,
      partial: details?.partial,
      retryAfterMs: details?.retryAfterMs,
      retryDelayMs: details?.retryDelayMs,
      targetGone: cause.type === 'TargetGone',
    };
  }
  if (cause instanceof TimeoutFailure) {
    // The worker died or hung: its last heartbeat says how far it got.
    const partial = cause.lastHeartbeatDetails as DeliverResult | undefined;
    return { message: `delivery ${cause.timeoutType === 'HEARTBEAT' ? 'stopped heartbeating (worker lost?)' : 'timed out'}`, partial };
  }
  return { message: cause?.message ?? err.message };
}

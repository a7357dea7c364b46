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
import { addDelivery, deliverySummary, detailsMarkdown, retryDelayMs, waitSummary } from './httpsync-view';
import { configureSignal, deleteSignal, pauseSignal, resumeSignal, rowsChangedSignal, statusQuery, triggerSignal } from './messages';
import type { DeliverFailureDetails, DeliverResult, DeliveryProgress, HttpSyncInput, HttpSyncStatus, SyncState } from './types';
import { START_CURSOR } from './types';

// Retries are the workflow's own (below), so each failure shows in its state and details;
// a single attempt per activity also means two POSTs of one target never overlap.
const { deliverPages } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

const HISTORY_LIMIT = 2000;
/**
 * Rows held back by an older open transaction become readable when it ends, and nothing signals
 * that: look again after 1 s, doubling up to 15 s (or the period, if shorter).
 */
const HELD_BACK_RECHECK_MS = 1_000;
const HELD_BACK_RECHECK_MAX_MS = 15_000;

/** One long-running workflow per HTTP Sync target: wait, drain page after page, repeat. */
export async function httpSyncWorkflow(input: HttpSyncInput): Promise<DeliveryProgress> {
  const { targetId, labels } = input;
  const settings = { ...input.settings };
  const progress: DeliveryProgress = input.progress ?? {
    cursor: START_CURSOR, rowsDelivered: 0, pagesDelivered: 0, postCount: 0, postMsTotal: 0, syncs: 0, errorCount: 0,
  };
  // A new target syncs at once; a continued one picks up where it was.
  let wake = input.wake ?? input.progress === undefined;
  let deleted = false;
  let reconfigured = false;
  let state: SyncState = 'waiting';
  let lastSyncEndedAt = Date.now();
  let retry: HttpSyncStatus['retry'];
  // Set after a drain that left rows held back: how long to wait before looking again.
  let recheckMs: number | undefined;
  // (time, rows) of recent deliveries, for the rows-per-minute figure; not carried across runs.
  const recent: Array<[number, number]> = [];

  const status = (): HttpSyncStatus => ({
    targetId, state, settings: { ...settings }, progress: { ...progress }, retry,
    nextSyncAt: new Date(lastSyncEndedAt + settings.periodSeconds * 1000).toISOString(),
    rowsPerMinute: recent.filter(([at]) => at > Date.now() - 60_000).reduce((sum, [, rows]) => sum + rows, 0),
    recentDeliveries: recent.map(([at, rows]): [number, number] => [at, rows]),
  });
  const show = (s: SyncState) => {
    state = s;
    setCurrentDetails(detailsMarkdown(status(), labels));
  };

  setHandler(triggerSignal, () => void (wake = true));
  setHandler(rowsChangedSignal, () => void (settings.mode === 'on_insert' && (wake = true)));
  setHandler(pauseSignal, () => void (settings.paused = true));
  setHandler(resumeSignal, () => {
    settings.paused = false;
    wake = true;
  });
  setHandler(configureSignal, (patch) => {
    Object.assign(settings, patch);
    reconfigured = true;
  });
  setHandler(deleteSignal, () => void (deleted = true));
  setHandler(statusQuery, status);

  const interrupted = () => deleted || settings.paused;

  async function drain(): Promise<void> {
    progress.syncs += 1;
    let more = true;
    while (more && !interrupted()) {
      show(retry ? 'retrying' : 'delivering');
      const firstPage = progress.pagesDelivered + 1;
      try {
        const r = await deliverPages.executeWithOptions(
          {
            summary: deliverySummary(firstPage, settings.pageSize),
            startToCloseTimeout: `${60 + 3 * settings.timeoutSeconds} seconds`,
          },
          [{ targetId, cursor: progress.cursor, pageSize: settings.pageSize, timeoutSeconds: settings.timeoutSeconds, firstPage }],
        );
        addDelivery(progress, r);
        recent.push([Date.now(), r.rows]);
        while (recent.length > 0 && recent[0]![0] < Date.now() - 60_000) recent.shift();
        progress.lastSuccessAt = new Date().toISOString();
        retry = undefined;
        more = r.more && !r.stopped;
        if (!more) {
          recheckMs = r.heldBack
            ? Math.min(recheckMs === undefined ? HELD_BACK_RECHECK_MS : recheckMs * 2, HELD_BACK_RECHECK_MAX_MS, settings.periodSeconds * 1000)
            : undefined;
        }
      } catch (err) {
        const failure = describeFailure(err);
        if (failure.partial) addDelivery(progress, failure.partial);
        if (failure.targetGone) {
          deleted = true;
          return;
        }
        const now = Date.now();
        const attempts = (retry?.attempts ?? 0) + 1;
        const delay = retryDelayMs(attempts, failure.retryAfterMs, Math.random());
        progress.errorCount += 1;
        progress.lastError = failure.message;
        progress.lastErrorAt = new Date(now).toISOString();
        retry = { since: retry?.since ?? progress.lastErrorAt, attempts, nextAttemptAt: new Date(now + delay).toISOString(), error: failure.message };
        show('retrying');
        // A trigger retries at once; pause and delete stop retrying.
        await condition(() => wake || interrupted(), delay, { summary: `retry in ${Math.round(delay / 1000)} s after: ${failure.message}` });
        wake = false;
      }
    }
    lastSyncEndedAt = Date.now();
  }

  const rollOverIfLong = async () => {
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? HISTORY_LIMIT)) {
      await condition(allHandlersFinished);
      // Rows held back at the end of this run are looked for at the start of the next.
      await continueAsNew<typeof httpSyncWorkflow>({ ...input, settings, progress: { ...progress }, wake: wake || recheckMs !== undefined });
    }
  };

  while (!deleted) {
    // Checked every round, so a paused or often reconfigured target stays bounded too.
    await rollOverIfLong();
    if (settings.paused) {
      show('paused');
      await condition(() => !settings.paused || deleted);
      continue;
    }
    if (!wake) {
      reconfigured = false;
      show('waiting');
      const untilPeriod = Math.max(0, lastSyncEndedAt + settings.periodSeconds * 1000 - Date.now());
      const waitMs = recheckMs === undefined ? untilPeriod : Math.min(untilPeriod, recheckMs);
      const woken = await condition(() => wake || reconfigured || interrupted(), waitMs, {
        summary: waitSummary(waitMs, settings.mode),
      });
      if (!woken) wake = true;
      continue;
    }
    wake = false;
    await drain();
  }
  show('deleted');
  return progress;
}

interface FailureView {
  message: string;
  partial?: DeliverResult;
  retryAfterMs?: number;
  targetGone?: boolean;
}

/** What a failed delivery activity tells: its error, and the pages it delivered before failing. */
function describeFailure(err: unknown): FailureView {
  if (!(err instanceof ActivityFailure)) throw err;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as DeliverFailureDetails | undefined;
    return { message: cause.message, partial: details?.partial, retryAfterMs: details?.retryAfterMs, targetGone: cause.type === 'TargetGone' };
  }
  if (cause instanceof TimeoutFailure) {
    // The worker died or hung: its last heartbeat says how far it got.
    const partial = cause.lastHeartbeatDetails as DeliverResult | undefined;
    return { message: `delivery ${cause.timeoutType === 'HEARTBEAT' ? 'stopped heartbeating (worker lost?)' : 'timed out'}`, partial };
  }
  return { message: cause?.message ?? err.message };
}

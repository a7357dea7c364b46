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
import { addDelivery, detailsMarkdown, retryDelayMs } from './httpsync-view';
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
  // (time, rows) of recent deliveries, for the rows-per-minute figure; not carried across runs.
  const recent: Array<[number, number]> = [];

  const status = (): HttpSyncStatus => ({
    targetId, state, settings: { ...settings }, progress: { ...progress }, retry,
    nextSyncAt: new Date(lastSyncEndedAt + settings.periodSeconds * 1000).toISOString(),
    rowsPerMinute: recent.filter(([at]) => at > Date.now() - 60_000).reduce((sum, [, rows]) => sum + rows, 0),
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
            summary: `POST page ${firstPage}…: up to ${settings.pageSize} rows each`,
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
      await continueAsNew<typeof httpSyncWorkflow>({ ...input, settings, progress: { ...progress }, wake });
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
      const waitMs = Math.max(0, lastSyncEndedAt + settings.periodSeconds * 1000 - Date.now());
      const woken = await condition(() => wake || reconfigured || interrupted(), waitMs, {
        summary: `wait ${settings.periodSeconds} s for the next sync` + (settings.mode === 'on_insert' ? ', new rows' : '') + ' or a trigger',
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

import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { applyActivitySummary, applySummary, ingestDetails, type Trouble } from './ingest-view';
import { wakeSignal } from '../contract/messages';
import type { ApplyResult, IngestInput, IngestTotals } from '../contract/ingest';

// A local activity: skipping the activity task round trips is most of what makes an apply cheap.
// Its own budgets (2 s of applying, 15 s of failing) keep it well inside the timeout; the few
// retries here are for a worker that crashed or a bug, after which the workflow waits on a timer
// (so that its history, and continue-as-new, stay bounded).
const { applyInbox } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/** Continue as new well before Temporal's limits; HOOKSYNC_HISTORY_LIMIT lowers it. */
const HISTORY_LIMIT = 5000;
/** After the activity itself failed (a crashed worker, a bug): a timer between attempts. */
const RETRY_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * One long-lived workflow per integration and shard. The events wait in PostgreSQL's inbox; a
 * wake-up says so, and the workflow runs the apply activity, which takes the shard's inbox until it
 * is empty and wakes the on-insert targets as rows change. History holds wake-ups, counts and
 * summaries only.
 */
export async function ingestWorkflow(input: IngestInput): Promise<void> {
  const totals: IngestTotals = input.totals ?? { taken: 0, applied: 0, discarded: 0, deadLettered: 0, applies: 0, wakeUps: 0 };
  let woken = input.woken ?? false;
  let announced = input.announced;
  let lastApply = input.lastApply ?? 'none yet';
  let inbox = input.inbox;
  let trouble: Trouble | undefined;

  setHandler(wakeSignal, (wake) => {
    woken = true;
    totals.wakeUps += 1;
    if (wake.upTo && (!announced || BigInt(wake.upTo) > BigInt(announced))) announced = wake.upTo;
  });
  // Details from the start of every run: the static summary (set by the first signalWithStart)
  // belongs to the first run only, so a continued run names its integration and shard here.
  const show = () => setCurrentDetails(ingestDetails(input, totals, lastApply, inbox, trouble));
  show();
  const rollOver = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? HISTORY_LIMIT);

  for (;;) {
    await condition(() => woken || rollOver());
    if (rollOver()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof ingestWorkflow>({ ...input, totals, lastApply, inbox, woken, announced });
    }
    woken = false;
    let r: ApplyResult;
    try {
      r = await applyInbox.executeWithOptions({ summary: applyActivitySummary(input.shard, announced) }, [
        { integrationId: input.integrationId, shard: input.shard },
      ]);
    } catch (err) {
      const attempts = (trouble?.attempts ?? 0) + 1;
      trouble = { error: failureMessage(err), since: trouble?.since ?? new Date().toISOString(), attempts };
      show();
      // Wake-ups meanwhile change nothing: the next attempt takes whatever waits then.
      await condition(rollOver, Math.min(RETRY_MS * 2 ** (attempts - 1), RETRY_MAX_MS));
      woken = true;
      continue;
    }
    totals.applies += 1;
    totals.taken += r.taken;
    totals.applied += r.applied;
    totals.discarded += r.discarded;
    totals.deadLettered += r.deadLettered;
    if (r.taken > 0) lastApply = applySummary(r) + (r.batches > 1 ? ` (in ${r.batches} statements)` : '');
    if (!r.busy) inbox = r.inbox;
    trouble = r.failing && { error: r.failing.error, since: trouble?.since ?? r.failing.since, attempts: (trouble?.attempts ?? 0) + r.failing.attempts };
    show();
    // Deleted: nothing is left to apply into. An event that still arrives starts a new run, which
    // keeps it as a dead letter and ends too.
    if (r.gone) return;
    // Rows left (its time budget ended), or failing: it retried with backoff for its whole budget,
    // holding the shard's lock, so the API sent no wake-ups meanwhile. Again at once, either way.
    if (r.more) woken = true;
  }
}

function failureMessage(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return (cause as Error | undefined)?.message ?? String(err);
}

import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { IngestRecord } from '../integrations/types';
import { ingestEventsSignal, rowsChangedSignal } from './messages';
import { forTemporalUi } from './httpsync-view';
import { httpSyncWorkflowId } from './names';
import type { IngestInput, IngestTotals } from './types';

// A local activity: the upsert is short, and skipping the activity task round trips is most of
// what makes grouped ingest fast (see README, Benchmarks).
const { upsertEvents } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 ms', backoffCoefficient: 2, maximumInterval: '10 seconds' },
});

/** Events per upsert statement: large enough to amortize, small enough to keep one statement quick. */
const MAX_BATCH = 1000;
/** Continue as new well before Temporal's limits, carrying what has not been applied yet. */
const HISTORY_LIMIT = 5000;

/** One long-lived workflow per integration and shard: receives grouped events, upserts them in batches. */
export async function ingestWorkflow(input: IngestInput): Promise<void> {
  const pending: IngestRecord[] = input.pending ?? [];
  const totals: IngestTotals = input.totals ?? { received: 0, applied: 0, discarded: 0, rejected: 0, batches: 0 };
  setHandler(ingestEventsSignal, (records) => {
    pending.push(...records);
    totals.received += records.length;
  });
  const shouldRollOver = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? HISTORY_LIMIT);
  // Details from the start of every run: the static summary (set by the API's signalWithStart) is
  // the first run's only, continue-as-new cannot carry it, so a continued run names its
  // integration, shard, totals and last batch here before any batch of its own.
  let lastBatch = input.lastBatch ?? 'none yet';
  setCurrentDetails(ingestDetails(input, totals, lastBatch));

  for (;;) {
    await condition(() => pending.length > 0 || shouldRollOver());
    if (pending.length > 0) {
      const batch = pending.splice(0, MAX_BATCH);
      const result = await upsertEvents.executeWithOptions({ summary: `upsert ${events(batch.length)}` }, [
        { integrationId: input.integrationId, records: batch },
      ]);
      totals.applied += result.applied;
      totals.discarded += result.discarded;
      totals.rejected += result.rejected;
      totals.batches += 1;
      // One signal per changed batch, not per row; a target that is gone is no reason to stop.
      for (const targetId of result.onInsertTargets) {
        getExternalWorkflowHandle(httpSyncWorkflowId(targetId)).signal(rowsChangedSignal).catch(() => {});
      }
      lastBatch =
        `upsert ${events(batch.length)}: ${result.applied} applied, ${result.discarded} older discarded` +
        (result.rejected ? `, ${result.rejected} rejected` : '');
      setCurrentDetails(ingestDetails(input, totals, lastBatch));
    }
    if (shouldRollOver()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof ingestWorkflow>({ ...input, pending, totals, lastBatch });
    }
  }
}

const events = (n: number) => (n === 1 ? '1 event' : `${n} events`);

function ingestDetails(input: IngestInput, t: IngestTotals, lastBatch: string): string {
  return forTemporalUi([
    `**Ingest** for \`${input.service}\` \`${input.integrationId}\`, shard ${input.shard + 1} of ${input.shards}`,
    '',
    `Last batch: ${lastBatch}`,
    '',
    '| received | applied | older discarded | rejected | batches |',
    '|---:|---:|---:|---:|---:|',
    `| ${t.received} | ${t.applied} | ${t.discarded} | ${t.rejected} | ${t.batches} |`,
  ].join('\n'));
}

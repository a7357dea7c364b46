import { allHandlersFinished, condition, continueAsNew, proxyActivities, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { reconcilerDetails } from './reconciler-view';
import { reconcilerStatusQuery, repairNowSignal } from '../contract/messages';
import type { ReconcilerInput, RepairRound } from '../contract/reconciler';

const { runRepairs } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  // The next round is the retry.
  retry: { maximumAttempts: 1 },
});

const PERIOD_MS = 60_000;
const HISTORY_LIMIT = 1000;

/**
 * Self-repair of one deployment: every minute (and whenever a worker starts) it runs the repair
 * steps of src/activities/repairs, e.g. starting again the workflow of a target that is not
 * running. The steps run inside one activity, so adding one changes no workflow code.
 */
export async function reconcilerWorkflow(input: ReconcilerInput = {}): Promise<void> {
  const periodMs = input.periodMs ?? PERIOD_MS;
  let rounds = input.rounds ?? 0;
  let last: RepairRound | undefined = input.last;
  let due = input.due ?? true;
  let nextRoundAt = Date.now();
  const rollOverDue = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= (input.historyLimit ?? HISTORY_LIMIT);
  const show = (running: boolean) => setCurrentDetails(reconcilerDetails({ rounds, last, nextRoundAt: new Date(nextRoundAt).toISOString() }, running));

  setHandler(repairNowSignal, () => void (due = true));
  setHandler(reconcilerStatusQuery, () => ({ rounds, last, nextRoundAt: new Date(nextRoundAt).toISOString() }));

  for (;;) {
    if (rollOverDue()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof reconcilerWorkflow>({ ...input, rounds, last, due });
    }
    if (due) {
      due = false;
      show(true);
      try {
        last = await runRepairs();
      } catch (err) {
        // The activity itself failed (a timeout, a lost worker): the next round tries again.
        const e = err as Error & { cause?: Error };
        last = { at: new Date().toISOString(), reports: [{ step: 'runRepairs', ok: false, summary: e.cause?.message ?? e.message, ms: 0 }] };
      }
      rounds += 1;
      nextRoundAt = Date.now() + periodMs;
    }
    show(false);
    const woken = await condition(() => due || rollOverDue(), Math.max(0, nextRoundAt - Date.now()), { summary: 'wait for the next round of repairs' });
    if (!woken) due = true;
  }
}

// A fixture for test/replay.test.ts: every workflow type with a change that running workflows
// cannot take (an activity before anything else), to prove that replaying the recorded histories
// catches such a change in each of them.
import { proxyActivities } from '@temporalio/workflow';
import { backfillWorkflow as backfill } from '../../src/workflows/backfill';
import { httpSyncWorkflow as httpSync } from '../../src/workflows/httpsync';
import { ingestWorkflow as ingest } from '../../src/workflows/ingest';
import { reconcilerWorkflow as reconciler } from '../../src/workflows/reconciler';

// An activity no workflow calls: whatever a history holds first, it is not this.
const { changedWorkflowProbe } = proxyActivities<{ changedWorkflowProbe(): Promise<void> }>({ startToCloseTimeout: '1 minute' });

function changed<A extends unknown[], R>(workflow: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R> => {
    await changedWorkflowProbe();
    return workflow(...args);
  };
}

export const ingestWorkflow = changed(ingest);
export const httpSyncWorkflow = changed(httpSync);
export const backfillWorkflow = changed(backfill);
export const reconcilerWorkflow = changed(reconciler);

// A fixture for test/replay.test.ts: the HTTP Sync workflow with a change that running workflows
// cannot take (an activity before anything else), to prove that replaying the recorded
// histories catches such a change.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../src/activities';
import { httpSyncWorkflow as current } from '../../src/workflows/httpsync';
import type { HttpSyncInput } from '../../src/contract/httpsync';

const { runRepairs } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

export async function httpSyncWorkflow(input: HttpSyncInput) {
  await runRepairs();
  return current(input);
}

export { ingestWorkflow } from '../../src/workflows/ingest';
export { reconcilerWorkflow } from '../../src/workflows/reconciler';

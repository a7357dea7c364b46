// The worker's workflow bundle: workflow code only, no I/O.
export { ingestWorkflow } from './ingest';
export { httpSyncWorkflow } from './httpsync';
export { reconcilerWorkflow } from './reconciler';
export { backfillWorkflow } from './backfill';

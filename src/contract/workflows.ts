import type { BackfillInput, BackfillStatus } from './backfill';
import type { DeliveryProgress, HttpSyncInput } from './httpsync';
import type { IngestInput } from './ingest';
import type { ReconcilerInput } from './reconciler';

/**
 * The workflow types, as src/workflows/index.ts exports them. Clients start workflows by these
 * names and these signatures: code that starts a workflow never imports workflow code.
 */
export const WORKFLOW_TYPES = {
  httpSync: 'httpSyncWorkflow',
  ingest: 'ingestWorkflow',
  reconciler: 'reconcilerWorkflow',
  backfill: 'backfillWorkflow',
} as const;

export type HttpSyncWorkflow = (input: HttpSyncInput) => Promise<DeliveryProgress>;
export type IngestWorkflow = (input: IngestInput) => Promise<void>;
export type ReconcilerWorkflow = (input?: ReconcilerInput) => Promise<void>;
export type BackfillWorkflow = (input: BackfillInput) => Promise<BackfillStatus>;

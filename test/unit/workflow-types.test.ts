import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WORKFLOW_TYPES, type BackfillWorkflow, type HttpSyncWorkflow, type IngestWorkflow, type ReconcilerWorkflow } from '../../src/contract/workflows';
import * as workflows from '../../src/workflows';

test('clients start the workflows by the names and signatures the workflow bundle exports', () => {
  // Signatures: a workflow whose input or result changed no longer fits its contract type.
  const typed: [HttpSyncWorkflow, IngestWorkflow, ReconcilerWorkflow, BackfillWorkflow] = [
    workflows.httpSyncWorkflow,
    workflows.ingestWorkflow,
    workflows.reconcilerWorkflow,
    workflows.backfillWorkflow,
  ];
  assert.deepEqual(
    typed.map((w) => w.name),
    [WORKFLOW_TYPES.httpSync, WORKFLOW_TYPES.ingest, WORKFLOW_TYPES.reconciler, WORKFLOW_TYPES.backfill],
  );
  assert.deepEqual(Object.keys(workflows).sort(), Object.values(WORKFLOW_TYPES).sort());
});

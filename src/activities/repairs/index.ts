import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { checkCursors } from './cursor-check';
import { repairPendingChanges } from './pending-changes';
import { repairTargetWorkflows } from './target-workflows';

/** What a repair step may use: the database, a Temporal client, and where workflows run. */
export interface RepairContext {
  pool: pg.Pool;
  client: Client;
  taskQueue: string;
  historyLimit?: number;
  /** Tells Temporal the step is alive during a long loop. */
  heartbeat?: () => void;
}

/**
 * One periodic repair: finds what has gone wrong and puts it right (or reports it), and returns a
 * one-line summary for the reconciler's details. A step that throws fails alone: the others run.
 */
export interface RepairStep {
  name: string;
  run(ctx: RepairContext): Promise<string>;
}

/**
 * The repairs the reconciler workflow runs every minute and whenever a worker starts, in order.
 * Add a step here (its name as the details show it, and a function); the workflow does not change.
 */
export const REPAIR_STEPS: readonly RepairStep[] = [
  { name: 'target-workflows', run: repairTargetWorkflows },
  { name: 'pending-changes', run: repairPendingChanges },
  { name: 'cursor-check', run: checkCursors },
];

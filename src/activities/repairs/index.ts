import { checkCursors } from './cursor-check';
import { repairPendingChanges } from './pending-changes';
import type { RepairStep } from './context';
import { repairTargetWorkflows } from './target-workflows';

/**
 * The repairs the reconciler workflow runs every minute and whenever a worker starts, in order.
 * Add a step here (its name as the details show it, and a function); the workflow does not change.
 */
export const REPAIR_STEPS: readonly RepairStep[] = [
  { name: 'target-workflows', run: repairTargetWorkflows },
  { name: 'pending-changes', run: repairPendingChanges },
  { name: 'cursor-check', run: checkCursors },
];

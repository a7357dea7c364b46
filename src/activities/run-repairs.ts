import { Context } from '@temporalio/activity';
import type { RepairReport, RepairRound } from '../contract/reconciler';
import { REPAIR_STEPS } from './repairs';
import type { RepairContext, RepairStep } from './repairs/context';
import { safeErrorText } from '../db/pg-error';

/** The reconciler's activity: every repair step in turn, each failing alone. */
export function createRunRepairs(deps: Omit<RepairContext, 'heartbeat'>, steps: readonly RepairStep[] = REPAIR_STEPS) {
  return async function runRepairs(): Promise<RepairRound> {
    const ctx = Context.current();
    const heartbeat = () => ctx.heartbeat();
    const reports: RepairReport[] = [];
    for (const step of steps) {
      const started = performance.now();
      try {
        const summary = await step.run({ ...deps, heartbeat });
        reports.push({ step: step.name, ok: true, summary, ms: performance.now() - started });
      } catch (err) {
        reports.push({ step: step.name, ok: false, summary: safeErrorText(err), ms: performance.now() - started });
      }
      heartbeat();
    }
    return { at: new Date().toISOString(), reports };
  };
}

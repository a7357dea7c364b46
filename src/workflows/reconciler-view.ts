import { utcTime } from '../text/format';
import { forTemporalUi, mdCode } from '../text/markdown';
import type { ReconcilerStatus } from '../contract/reconciler';

/** The reconciler's current details in the Temporal UI: its last round, step by step. */
export function reconcilerDetails(s: ReconcilerStatus, running: boolean): string {
  const lines = [
    `**State:** ${running ? 'running the repairs' : `waiting until ${utcTime(s.nextRoundAt)} (or a worker start)`}`,
    `**Rounds:** ${s.rounds}` + (s.last ? `; the last at ${utcTime(s.last.at)}` : ''),
    ...(s.last?.reports ?? []).map((r) => `**${r.step}:** ${r.ok ? '' : 'failed: '}${mdCode(r.summary)} (${Math.round(r.ms)} ms)`),
  ];
  return forTemporalUi(lines.join('\\\n'));
}

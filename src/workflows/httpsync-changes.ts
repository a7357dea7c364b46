import { START_CURSOR } from '../contract/cursor';
import type { CursorReset, DeliveryProgress, RetryState, TargetChange, TargetLabels, TargetSettings } from '../contract/httpsync';
import { applySettings, settingsProblems } from '../contract/target-settings';

/** What reaches a running target's workflow from outside: a change of settings, a reset of its cursor. */

/** The parts of `TargetState` (httpsync-state.ts) a change of settings moves. */
export interface Changeable {
  settings: TargetSettings;
  labels: TargetLabels;
  readonly retry?: RetryState;
  wake: boolean;
  summaryStale: boolean;
  reconfigured: boolean;
  refused?: string;
}

/** A `configure` signal or update; returns what was refused (the rest is applied). */
export function changeSettings(s: Changeable, c: TargetChange): string[] {
  const problems = settingsProblems(c);
  if (problems.length > 0) {
    s.refused = `a change of settings was refused: ${problems.join('; ')}`;
    // A signal applies the fields that are right; an update's validator refuses it whole before this.
    const fields = Object.fromEntries(Object.entries(c).filter(([k, v]) => settingsProblems({ [k]: v }).length === 0)) as TargetChange;
    apply(s, fields);
    return problems;
  }
  s.refused = undefined;
  apply(s, c);
  return [];
}

function apply(s: Changeable, c: TargetChange): void {
  const wasPaused = s.settings.paused;
  s.settings = applySettings(s.settings, c);
  if (wasPaused && !s.settings.paused) s.wake = true;
  if (c.maskedUrl !== undefined && c.maskedUrl !== s.labels.maskedUrl) {
    s.labels = { ...s.labels, maskedUrl: c.maskedUrl };
    s.summaryStale = true;
    // Verified just now: a retry goes to the new URL at once.
    if (s.retry) s.wake = true;
  }
  s.reconfigured = true;
}

/** The parts of `TargetState` a reset moves. */
export interface Resettable {
  readonly progress: DeliveryProgress;
  generation: number;
  resetAt?: string;
  cursorAhead?: { nextTxid: string };
  draining: boolean;
  retry?: RetryState;
  wake: boolean;
}

/** The cursor back to the start; a reset of a generation this workflow already has is ignored. */
export function applyReset(s: Resettable, r: CursorReset): boolean {
  if (!Number.isInteger(r?.generation) || r.generation <= s.generation) return false;
  s.generation = r.generation;
  s.resetAt = r.at;
  s.progress.cursor = { ...START_CURSOR };
  s.cursorAhead = undefined;
  s.draining = false;
  s.retry = undefined;
  s.wake = true;
  return true;
}

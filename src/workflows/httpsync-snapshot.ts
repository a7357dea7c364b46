import { cursorAheadWarning } from '../contract/cursor';
import type { DeliveryProgress, HttpSyncInput, HttpSyncStatus, RetryState, SyncState, TargetLabels, TargetSettings } from '../contract/httpsync';

/** What a target's workflow shows (the `status` query) and carries across continue-as-new, from its state. */

/** The parts of `TargetState` (httpsync-state.ts) read here. */
export interface Snapshot {
  readonly targetId: string;
  readonly settings: TargetSettings;
  readonly labels: TargetLabels;
  readonly progress: DeliveryProgress;
  readonly retry?: RetryState;
  readonly generation: number;
  readonly resetAt?: string;
  readonly restartedAt?: string;
  readonly draining: boolean;
  readonly wake: boolean;
  readonly rowsChanged: boolean;
  readonly refused?: string;
  readonly cursorAhead?: { nextTxid: string };
  readonly lastSyncEndedAt: number;
  readonly recheckAt?: number;
  readonly recent: ReadonlyArray<[number, number]>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function statusOf(s: Snapshot, state: SyncState, now: number): HttpSyncStatus {
  const warnings: string[] = [];
  if (s.cursorAhead) warnings.push(cursorAheadWarning(s.targetId, s.progress.cursor, s.cursorAhead.nextTxid));
  if (s.refused) warnings.push(s.refused);
  return {
    targetId: s.targetId,
    state,
    settings: { ...s.settings },
    progress: { ...s.progress, cursor: { ...s.progress.cursor } },
    maskedUrl: s.labels.maskedUrl,
    retry: s.retry && { ...s.retry },
    nextSyncAt: iso(s.lastSyncEndedAt + s.settings.periodSeconds * 1000),
    rowsPerMinute: s.recent.filter(([t]) => t > now - 60_000).reduce((sum, [, rows]) => sum + rows, 0),
    recentDeliveries: s.recent.map(([t, rows]): [number, number] => [t, rows]),
    generation: s.generation,
    ...(s.resetAt ? { resetAt: s.resetAt } : {}),
    ...(s.restartedAt ? { restartedAt: s.restartedAt } : {}),
    warnings,
  };
}

/** The input of the next run: everything a continue-as-new must not lose. */
export function carryOf(s: Snapshot, input: HttpSyncInput): HttpSyncInput {
  return {
    ...input,
    settings: { ...s.settings },
    labels: { ...s.labels },
    progress: { ...s.progress, cursor: { ...s.progress.cursor } },
    wake: s.wake,
    ...(s.rowsChanged ? { rowsChanged: true } : {}),
    draining: s.draining,
    retry: s.retry && { ...s.retry },
    lastSyncAt: iso(s.lastSyncEndedAt),
    recheckAt: s.recheckAt === undefined ? undefined : iso(s.recheckAt),
    generation: s.generation,
    resetAt: s.resetAt,
  };
}

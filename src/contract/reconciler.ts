/** Shapes of the reconciler workflow (src/workflows/reconciler.ts) and its activity. */

/** How one named repair step went in one round. */
export interface RepairReport {
  step: string;
  ok: boolean;
  /** One line: what it found and did, or why it failed. */
  summary: string;
  ms: number;
}

export interface RepairRound {
  at: string;
  reports: RepairReport[];
}

export interface ReconcilerInput {
  /** Time between rounds (default one minute). */
  periodMs?: number;
  /** Continue as new past this many history events. */
  historyLimit?: number;
  /** Carried by continue-as-new. */
  rounds?: number;
  last?: RepairRound;
  /** A round was asked for when the previous run continued as new. */
  due?: boolean;
}

export interface ReconcilerStatus {
  rounds: number;
  last?: RepairRound;
  nextRoundAt: string;
}

import type { Client } from '@temporalio/client';
import type pg from 'pg';

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

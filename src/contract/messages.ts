import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BackfillStatus } from './backfill';
import type { ReconcilerStatus } from './reconciler';
import type { CursorReset, HttpSyncStatus, TargetChange, TargetSettings } from './httpsync';
import type { IngestWake } from './ingest';

/** Signal, update and query names, shared by workflows, the CLI and the API; nobody repeats the strings. */

/** Sync now. No arguments, so any Temporal client can send it. */
export const triggerSignal = defineSignal('trigger');
/** Rows changed in the target's table (sent by ingest to on-insert targets). */
export const rowsChangedSignal = defineSignal('rowsChanged');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/**
 * New settings (and the masked URL after a URL change). The workflow checks them: a field out of
 * bounds is refused (logged, and shown in the details) and the others are applied.
 */
export const configureSignal = defineSignal<[TargetChange]>('configure');
/** The same as an update: a bad change is refused with its reason, and nothing is applied. */
export const configureUpdate = defineUpdate<TargetSettings, [TargetChange]>('configureTarget');
/** The cursor went back to the start (`hooksync httpsync reset --from-start`). */
export const resetSignal = defineSignal<[CursorReset]>('reset');
/** The target was deleted: stop, send nothing more. */
export const deleteSignal = defineSignal('delete');
export const statusQuery = defineQuery<HttpSyncStatus>('status');

/** Rows wait in the inbox of an ingest shard. Carries at most an inbox position, never an event. */
export const wakeSignal = defineSignal<[IngestWake]>('wake');

/** Run the repairs now instead of at the next round (every worker sends it when it starts). */
export const repairNowSignal = defineSignal('repairNow');
export const reconcilerStatusQuery = defineQuery<ReconcilerStatus>('status');

/** Where a backfill stands: pages and rows so far, its cursor, state and times. */
export const backfillStatusQuery = defineQuery<BackfillStatus>('backfillStatus');

import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { HttpSyncStatus, IngestWake, TargetSettings } from './types';

/** Signal and query names, shared by workflows, the CLI and the API; nobody repeats the strings. */

/** Sync now. No arguments, so any Temporal client can send it. */
export const triggerSignal = defineSignal('trigger');
/** Rows changed in the target's table (sent by ingest to on-insert targets). */
export const rowsChangedSignal = defineSignal('rowsChanged');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const configureSignal = defineSignal<[Partial<TargetSettings>]>('configure');
/** The target was deleted: stop, send nothing more. */
export const deleteSignal = defineSignal('delete');
export const statusQuery = defineQuery<HttpSyncStatus>('status');

/** Rows wait in the inbox of an ingest shard. Carries at most an inbox position, never an event. */
export const wakeSignal = defineSignal<[IngestWake]>('wake');

import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { IngestRecord } from '../integrations/types';
import type { HttpSyncStatus, TargetSettings } from './types';

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

/** A group of verified upstream events for one ingest shard. */
export const ingestEventsSignal = defineSignal<[IngestRecord[]]>('events');

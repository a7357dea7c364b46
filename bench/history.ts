import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../src/workflows/names';

/**
 * What Temporal did for an interval of ingest, read back from the ingest workflows' histories
 * (every run, across continue-as-new): how many wake-ups (signals), how many applies (local
 * activity markers) taking how many events, and how many workflow tasks that took.
 */
export interface IngestHistoryStats {
  wakeUps: number;
  applies: number;
  /** Events the applies took from the inbox (from their results). */
  eventsTaken: number;
  eventsPerApply: number;
  workflowTasks: number;
  historyEvents: number;
  runs: number;
}

const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

/** Pages of 100 events: small enough for gRPC's 4 MB message limit whatever they carry. */
async function* historyEvents(client: Client, workflowId: string, runId: string) {
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 100,
      nextPageToken,
    });
    yield* page.history?.events ?? [];
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
}

export async function ingestHistoryStats(client: Client, integrationId: string, fromMs: number, toMs: number): Promise<IngestHistoryStats> {
  const stats = { wakeUps: 0, applies: 0, eventsTaken: 0, workflowTasks: 0, historyEvents: 0, runs: 0 };
  const executions = client.workflow.list({
    query: `${SEARCH_ATTRIBUTES.integrationId} = '${integrationId}' AND WorkflowType = 'ingestWorkflow'`,
  });
  for await (const ex of executions) {
    if (ex.closeTime && ex.closeTime.getTime() < fromMs) continue;
    if (ex.startTime.getTime() > toMs) continue;
    stats.runs += 1;
    for await (const e of historyEvents(client, ex.workflowId, ex.runId)) {
      const at = millis(e.eventTime);
      if (at < fromMs || at > toMs) continue;
      stats.historyEvents += 1;
      if (e.workflowExecutionSignaledEventAttributes?.signalName === 'wake') stats.wakeUps += 1;
      const marker = e.markerRecordedEventAttributes;
      if (marker) {
        stats.applies += 1;
        const data = marker.details?.result?.payloads?.[0]?.data;
        if (data) stats.eventsTaken += (JSON.parse(Buffer.from(data).toString('utf8')) as { taken?: number }).taken ?? 0;
      }
      if (e.workflowTaskCompletedEventAttributes) stats.workflowTasks += 1;
    }
  }
  return { ...stats, eventsPerApply: stats.applies ? stats.eventsTaken / stats.applies : NaN };
}

export interface Timing {
  p50Ms: number;
  p99Ms: number;
  count: number;
}

/** Per-hop timings of workflows over an interval, from their histories' event times. */
export interface WorkflowTimings {
  /** A signal recorded → the workflow task that sees it starts (dispatch to the worker). */
  signalToTask: Timing;
  /** Workflow task started → completed (workflow code, local activities run inside it). */
  task: Timing;
  /** Activity scheduled → started. */
  activityQueue: Timing;
  /** Activity started → completed. */
  activity: Timing;
}

function timing(values: number[]): Timing {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN);
  return { p50Ms: at(50), p99Ms: at(99), count: sorted.length };
}

export async function workflowTimings(client: Client, query: string, fromMs: number, toMs: number): Promise<WorkflowTimings> {
  const signalToTask: number[] = [];
  const task: number[] = [];
  const activityQueue: number[] = [];
  const activity: number[] = [];
  for await (const ex of client.workflow.list({ query })) {
    if (ex.closeTime && ex.closeTime.getTime() < fromMs) continue;
    if (ex.startTime.getTime() > toMs) continue;
    const pendingSignals: number[] = [];
    let taskStarted: number | undefined;
    const scheduled = new Map<string, number>();
    const started = new Map<string, number>();
    for await (const e of historyEvents(client, ex.workflowId, ex.runId)) {
      const at = millis(e.eventTime);
      const inside = at >= fromMs && at <= toMs;
      if (e.workflowExecutionSignaledEventAttributes) pendingSignals.push(at);
      if (e.workflowTaskStartedEventAttributes) {
        taskStarted = at;
        if (inside) for (const s of pendingSignals) signalToTask.push(at - s);
        pendingSignals.length = 0;
      }
      if (e.workflowTaskCompletedEventAttributes && taskStarted !== undefined && inside) task.push(at - taskStarted);
      if (e.activityTaskScheduledEventAttributes) scheduled.set(String(e.eventId), at);
      const st = e.activityTaskStartedEventAttributes;
      if (st) {
        const s = scheduled.get(String(st.scheduledEventId));
        if (s !== undefined && inside) activityQueue.push(at - s);
        started.set(String(st.scheduledEventId), at);
      }
      const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
      if (done) {
        const s = started.get(String(done.scheduledEventId));
        if (s !== undefined && inside) activity.push(at - s);
      }
    }
  }
  return { signalToTask: timing(signalToTask), task: timing(task), activityQueue: timing(activityQueue), activity: timing(activity) };
}

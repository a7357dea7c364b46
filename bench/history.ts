import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../src/contract/names';
import { summarize } from '../test/support/load';

/** Wall-clock intervals (Date.now() ms) a measurement ran in. */
export type Window = { fromMs: number; toMs: number };

export type IngestHistoryStats = Awaited<ReturnType<typeof ingestHistoryStats>>;

/** The visibility query for an integration's ingest workflows (every shard, every run). */
export const ingestWorkflows = (integrationId: string) =>
  `${SEARCH_ATTRIBUTES.integrationId} = '${integrationId}' AND WorkflowType = 'ingestWorkflow'`;

const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

/**
 * The history of every run the query finds that was open during the windows, each event with its
 * time and whether it happened inside a window.
 */
async function* historiesDuring(client: Client, query: string, windows: Window[]) {
  const inside = (at: number) => windows.some((w) => at >= w.fromMs && at <= w.toMs);
  const from = Math.min(...windows.map((w) => w.fromMs));
  const to = Math.max(...windows.map((w) => w.toMs));
  for await (const ex of client.workflow.list({ query })) {
    if ((ex.closeTime && ex.closeTime.getTime() < from) || ex.startTime.getTime() > to) continue;
    const { events } = await client.workflow.getHandle(ex.workflowId, ex.runId).fetchHistory();
    yield (events ?? []).map((e) => ({ e, at: millis(e.eventTime), inside: inside(millis(e.eventTime)) }));
  }
}

/**
 * What Temporal did for intervals of ingest, read back from the ingest workflows' histories
 * (every run, across continue-as-new): how many wake-ups (signals), how many applies (local
 * activity markers) taking how many events (from their results), and how many workflow tasks.
 */
export async function ingestHistoryStats(client: Client, integrationId: string, windows: Window[]) {
  const stats = { wakeUps: 0, applies: 0, eventsTaken: 0, workflowTasks: 0, historyEvents: 0, runs: 0 };
  for await (const events of historiesDuring(client, ingestWorkflows(integrationId), windows)) {
    stats.runs += 1;
    for (const { e, inside } of events) {
      if (!inside) continue;
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

function timing(values: number[]) {
  const s = summarize(values);
  return { p50Ms: s.p50, p99Ms: s.p99, count: s.count };
}

/**
 * Per-hop timings of workflows over an interval, from their histories' event times:
 * - signalToTask: a signal recorded → the workflow task that sees it starts (dispatch to the worker);
 * - task: workflow task started → completed (workflow code, local activities run inside it);
 * - activityQueue: activity scheduled → started; activity: started → completed.
 */
export async function workflowTimings(client: Client, query: string, window: Window) {
  const signalToTask: number[] = [];
  const task: number[] = [];
  const activityQueue: number[] = [];
  const activity: number[] = [];
  for await (const events of historiesDuring(client, query, [window])) {
    const pendingSignals: number[] = [];
    let taskStarted: number | undefined;
    const scheduled = new Map<string, number>();
    const started = new Map<string, number>();
    for (const { e, at, inside } of events) {
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

/** The visibility query for the HTTP Sync workflows of an integration's targets (every run). */
export const targetWorkflows = (integrationId: string) =>
  `${SEARCH_ATTRIBUTES.integrationId} = '${integrationId}' AND WorkflowType = 'httpSyncWorkflow'`;

export type TargetHistoryStats = Awaited<ReturnType<typeof targetHistoryStats>>;

/**
 * What Temporal did for an integration's targets over a window, from their workflows' histories:
 * drains (deliverPages activities scheduled: each reads and POSTs until no page is left), workflow
 * tasks, signals received (rowsChanged wake-ups) and history events, in all and per drain.
 */
export async function targetHistoryStats(client: Client, integrationId: string, window: Window, targets = 1) {
  const stats = { drains: 0, workflowTasks: 0, signals: 0, historyEvents: 0, runs: 0 };
  for await (const events of historiesDuring(client, targetWorkflows(integrationId), [window])) {
    stats.runs += 1;
    for (const { e, inside } of events) {
      if (!inside) continue;
      stats.historyEvents += 1;
      if (e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverPages') stats.drains += 1;
      if (e.workflowTaskCompletedEventAttributes) stats.workflowTasks += 1;
      if (e.workflowExecutionSignaledEventAttributes) stats.signals += 1;
    }
  }
  const per = (n: number) => (stats.drains ? n / stats.drains : NaN);
  // Per target and second of the window: what Temporal records follows time, whatever the drains.
  const perTargetSecond = (n: number) => n / targets / Math.max(0.001, (window.toMs - window.fromMs) / 1000);
  return {
    ...stats,
    historyEventsPerTargetSecond: perTargetSecond(stats.historyEvents),
    workflowTasksPerTargetSecond: perTargetSecond(stats.workflowTasks),
    historyEventsPerDrain: per(stats.historyEvents),
    workflowTasksPerDrain: per(stats.workflowTasks),
    signalsPerDrain: per(stats.signals),
  };
}

import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

// The runs of a workflow found through what is strongly consistent: describe and histories of the
// known workflow id. Temporal's visibility (workflow.list) lags behind on a loaded machine.

type History = temporal.api.history.v1.IHistory;

export interface Run {
  runId: string;
  /** RUNNING, COMPLETED, … for the newest run; CONTINUED_AS_NEW for every older one. */
  status: string;
  history: History;
  events: number;
}

/**
 * Every run of `workflowId`, oldest first: the newest run (describe without a run id), then back
 * through the run each one continued (its started event's `continuedExecutionRunId`).
 */
export async function workflowRuns(client: Client, workflowId: string): Promise<Run[]> {
  const newest = await client.workflow.getHandle(workflowId).describe();
  const runs: Run[] = [];
  let runId: string | undefined = newest.runId;
  let status = newest.status.name as string;
  while (runId) {
    const history: History = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: temporal.api.history.v1.IHistoryEvent[] = history.events ?? [];
    if (status === 'CONTINUED_AS_NEW' && !events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes) {
      throw new Error(`${workflowId} run ${runId} was continued, but its history does not end so`);
    }
    runs.unshift({ runId, status, history, events: events.length });
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    status = 'CONTINUED_AS_NEW';
  }
  return runs;
}

type Handle = ReturnType<Client['workflow']['getHandle']>;

/** How many events the current run's history has: pass it to `signalTaken` as where to look from. */
export async function historyLength(handle: Handle): Promise<number> {
  return (await handle.fetchHistory()).events?.length ?? 0;
}

/**
 * Waits until the current run has taken a signal `name` that came after its first `from` events:
 * the signal is in its history and a workflow task completed after it, so whatever the workflow
 * does about it (or does not do) has been decided. The positive marker before asserting that
 * something did not happen, instead of a fixed sleep.
 */
export async function signalTaken(handle: Handle, name: string, from: number, timeoutMs = 20_000): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = ((await handle.fetchHistory()).events ?? []).slice(from);
    const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === name);
    if (signalled >= 0 && events.slice(signalled).some((e) => e.workflowTaskCompletedEventAttributes)) return events.slice(signalled);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${handle.workflowId} to take the signal ${name}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether the current run holds a signal `name` that no workflow task has taken yet (with no worker running, it waits for one). */
export async function signalWaiting(handle: Handle, name: string): Promise<boolean> {
  const events = (await handle.fetchHistory()).events ?? [];
  let lastTask = events.length - 1;
  while (lastTask >= 0 && !events[lastTask]!.workflowTaskCompletedEventAttributes) lastTask--;
  return events.slice(lastTask + 1).some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === name);
}

// PendingActivityState and PendingWorkflowTaskState (temporal.api.enums.v1): SCHEDULED is 1 and STARTED 2 in both.
const PENDING_SCHEDULED = 1;
const PENDING_STARTED = 2;

/**
 * Whether the workflow's next step waits for a worker: Temporal offers a workflow task or an
 * activity of it that no worker has taken, and holds none as taken (one a dead worker had taken
 * counts once Temporal timed it out and offers it again). With no worker running, the positive
 * marker before asserting that nothing was sent: what would send next is pending, not running.
 */
export async function waitingForWorker(handle: Handle): Promise<boolean> {
  const { raw } = await handle.describe();
  const task = raw.pendingWorkflowTask?.state;
  const activities = (raw.pendingActivities ?? []).map((a) => a.state);
  if (task === PENDING_STARTED || activities.some((s) => s !== PENDING_SCHEDULED)) return false;
  return task === PENDING_SCHEDULED || activities.length > 0;
}

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJson } from './history-json';

/**
 * Recorded workflow histories (test/histories/*.json), replayed by test/replay.test.ts against the
 * current workflow code. Each file is one run's history in the JSON of
 * `temporal workflow show --workflow-id <id> --output json`, so a history can be recorded with the
 * Temporal CLI as well as with `saveHistories` below.
 */
export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

/** `HOOKSYNC_RECORD_HISTORIES=1 npm test -- <file>` records the histories a test file names. */
export const recordingHistories = process.env.HOOKSYNC_RECORD_HISTORIES === '1';

/**
 * Saves the runs of a workflow as `<name>.json` (or `<name>-run<N>.json`, oldest first, when it
 * continued as new); with `maxRuns`, the first and the last ones only.
 */
export async function saveHistories(client: Client, workflowId: string, name: string, opts: { maxRuns?: number } = {}): Promise<string[]> {
  let runs: Array<{ runId: string; start: number }> = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push({ runId: wf.runId, start: wf.startTime.getTime() });
  runs.sort((a, b) => a.start - b.start);
  const max = opts.maxRuns ?? Infinity;
  if (runs.length > max) runs = [...runs.slice(0, Math.ceil(max / 2)), ...runs.slice(runs.length - Math.floor(max / 2))];
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  const files: string[] = [];
  for (const [i, run] of runs.entries()) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    const file = path.join(HISTORIES_DIR, runs.length === 1 ? `${name}.json` : `${name}-run${i + 1}.json`);
    fs.writeFileSync(file, JSON.stringify(scrub(historyToJson(history)), null, 1) + '\n');
    files.push(file);
  }
  return files;
}

/** Saves the histories when recording; a no-op otherwise. */
export async function recordIfAsked(client: Client, workflowId: string, name: string, opts: { maxRuns?: number } = {}): Promise<void> {
  if (recordingHistories) await saveHistories(client, workflowId, name, opts);
}

/**
 * Without what says where it was recorded: failures' stack traces (file paths), worker identities
 * and sticky task queues (host names).
 */
function scrub(value: unknown): unknown {
  if (typeof value === 'string') return value.split(os.hostname()).join('recorder');
  if (Array.isArray(value)) return value.map(scrub);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === 'stackTrace' ? '' : k === 'identity' ? 'recorded' : scrub(v)]),
  );
}

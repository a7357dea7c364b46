import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { historyToJson } from './history-json';

/**
 * Recorded workflow histories (the `.json` files under test/histories/), replayed by test/replay.test.ts against
 * the current workflow code. Each file is one run's history in the JSON of
 * `temporal workflow show --workflow-id <id> --output json`, so a history can be recorded with the
 * Temporal CLI as well as with `saveHistories` below.
 */
export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

/**
 * `HOOKSYNC_RECORD_HISTORIES=1 npm test -- <file>` records the histories a test file names, into a
 * set of their own, `test/histories/main-<commit>/` (or `HOOKSYNC_RECORD_HISTORIES=<set>`): the
 * sets recorded from older code stay, since workflows that started under it may still be running.
 */
const recordTo = process.env.HOOKSYNC_RECORD_HISTORIES;
export const recordingHistories = recordTo !== undefined && recordTo !== '' && recordTo !== '0';

function recordingSet(): string {
  if (recordTo && recordTo !== '1') return recordTo;
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HISTORIES_DIR, encoding: 'utf8' }).trim();
  return `main-${commit}`;
}

/** Every recorded history, as paths relative to HISTORIES_DIR, in a stable order. */
export function historyFiles(dir = HISTORIES_DIR, prefix = ''): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? historyFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : e.name.endsWith('.json') ? [`${prefix}${e.name}`] : []))
    .sort();
}

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
  const dir = path.join(HISTORIES_DIR, recordingSet());
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, run] of runs.entries()) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    const file = path.join(dir, runs.length === 1 ? `${name}.json` : `${name}-run${i + 1}.json`);
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

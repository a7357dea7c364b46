import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { bundleWorkflowCode, Worker, type ReplayResult } from '@temporalio/worker';
import { HISTORIES_DIR, historyFiles } from './support/histories';
import { historyFromJson } from './support/history-json';

// Workflows run for months, through deploys: the code a worker runs must replay the histories of
// the workflows already running. Every history in test/histories/ and its sets (see its README) is
// replayed against the current workflow code; a change that would break them fails here, and has
// to go behind `patched()` (docs/design.md, "Changing workflow code").

const WORKFLOW_TYPES = ['ingestWorkflow', 'httpSyncWorkflow', 'backfillWorkflow', 'reconcilerWorkflow'];
const files = historyFiles();
const histories = () => files.map((f) => ({ workflowId: f, history: historyFromJson(JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, f), 'utf8'))) }));
const typeOf = new Map(histories().map((h) => [h.workflowId, h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '']));

async function replayAll(workflowBundle: { codePath: string } | { code: string }): Promise<Map<string, ReplayResult>> {
  const results = new Map<string, ReplayResult>();
  for await (const r of Worker.runReplayHistories({ workflowBundle, replayName: 'hooksync-replay-test' }, histories())) results.set(r.workflowId, r);
  return results;
}

describe('recorded histories replay against the current workflow code', () => {
  let results: Map<string, ReplayResult>;

  before(async () => {
    const codePath = process.env.HOOKSYNC_TEST_WORKFLOW_BUNDLE;
    if (!codePath) throw new Error('run with `npm test`, which bundles the workflows');
    results = await replayAll({ codePath });
  });

  test('there are histories of every workflow type, covering the HTTP Sync states', () => {
    assert.ok(files.length >= 6, `${files.length} histories`);
    const types = new Set(typeOf.values());
    for (const type of WORKFLOW_TYPES) assert.ok(types.has(type), `a history of ${type}`);
    // Recorded from the code of today's main, before this round's changes of workflow code.
    const sets = new Set(files.filter((f) => f.includes('/')).map((f) => f.split('/')[0]));
    for (const set of sets) {
      const inSet = new Set(files.filter((f) => f.startsWith(`${set}/`)).map((f) => typeOf.get(f)));
      assert.deepEqual([...inSet].sort(), [...WORKFLOW_TYPES].sort(), `every workflow type in the set ${set}`);
    }
    assert.ok(sets.size >= 1, 'a set recorded from one version of the code');
    const events = histories().flatMap((h) => h.history.events ?? []);
    assert.ok(events.some((e) => e.workflowExecutionContinuedAsNewEventAttributes), 'a run that continued as new');
    assert.ok(events.some((e) => e.activityTaskFailedEventAttributes), 'a failed delivery (retrying)');
    assert.ok(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'configure'), 'a configure signal');
    assert.ok(events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'pause'), 'a pause');
    assert.ok(events.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes), 'an update');
  });

  for (const file of files) {
    test(`replays ${file}`, () => {
      const r = results.get(file);
      assert.ok(r, `replayed ${file}`);
      assert.equal(r.error, undefined, `${file}: ${r.error?.message}`);
    });
  }

  test('a change running workflows cannot take fails the replay, for every workflow type', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'support', 'replay-changed-workflow.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    const changed = await replayAll({ code });
    for (const type of WORKFLOW_TYPES) {
      const ofType = files.filter((f) => typeOf.get(f) === type);
      assert.ok(ofType.length > 0, `histories of ${type}`);
      for (const f of ofType) assert.equal(changed.get(f)?.error?.name, 'DeterminismViolationError', `${f}: ${changed.get(f)?.error}`);
    }
  });
});

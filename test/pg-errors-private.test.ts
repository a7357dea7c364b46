import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IntegrationView } from '../src/services/integrations';
import { safeErrorText } from '../src/db/pg-error';
import { triggerTarget } from '../src/services/target-signals';
import { httpSyncWorkflowId, ingestWorkflowId } from '../src/contract/names';
import { startApiProcess } from './support/cluster';
import type { Child } from './support/children';
import { startStack, waitFor, type Stack } from './support/harness';
import { newIntegration, newTarget, stackEnv, startPollingWorker, WEBHOOK_SECRET, type WorkerChild } from './support/httpsync';
import { currentDetails, historyText, keysInShard } from './support/ingest';
import { startReceiver, type Receiver } from './support/receiver';
import { customerEvent, postEvent } from './support/stripe';

// PostgreSQL's errors quote the data (`Failing row contains (…)`, `Key (email)=(…)`, a trigger's
// RAISE, `invalid input syntax for type bigint: "…"`). Events that the user's own rules on the
// integration table refuse go to the dead letters (and one that a trigger refuses keeps the apply
// retrying); the values of those events appear nowhere in Temporal (raw histories of the ingest and
// HTTP Sync workflows, their details) nor in the logs of the API and worker processes.

const RUN = crypto.randomBytes(3).toString('hex');
const T0 = 1_720_000_000;
const DUP = `dup-${RUN}@unique.example`;
const CHECKED = `chk-${RUN}@refused.example`;
const RAISED = `trg-${RUN}@trigger.example`;
const SECRET_VALUES = [DUP, CHECKED, RAISED, `dup-${RUN}`, `chk-${RUN}`, `trg-${RUN}`];
const PG_DATA_TEXTS = ['Failing row contains', 'Key (email)=', 'invalid input syntax', 'refused by trigger'];

describe('PostgreSQL errors: no customer data in Temporal or the logs', { timeout: 300_000 }, () => {
  let stack: Stack;
  let receiver: Receiver;
  let api: { child: Child; url: string };
  const workers: WorkerChild[] = [];
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooksync-pg-errors-'));

  before(async () => {
    [stack, receiver] = await Promise.all([startStack({ worker: false, api: false }), startReceiver()]);
    api = await startApiProcess('api', stackEnv(stack, { LOG_LEVEL: 'debug' }), logDir);
    await startPollingWorker(stack, workers);
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.allSettled([api?.child.stop(), stack?.close(), receiver?.close()]);
    fs.rmSync(logDir, { recursive: true, force: true });
  });

  test('the helper keeps the SQLSTATE and the constraint, never the quoted value', async () => {
    const err = await stack.pool.query(`SELECT 'value-${RUN}'::bigint`).catch((e: Error) => e);
    assert.match(String((err as Error).message), new RegExp(`value-${RUN}`), 'PostgreSQL quotes the value');
    assert.equal(safeErrorText(err), 'PostgreSQL error 22P02 (invalid text representation)');
    assert.equal(safeErrorText(new Error('wrapped', { cause: err })), 'PostgreSQL error 22P02 (invalid text representation)');
  });

  test('a check constraint, a unique index and a trigger of the user refuse events: dead letters keep the error, Temporal and the logs never see the values', async () => {
    const i: IntegrationView = await newIntegration(stack);
    const target = await newTarget(stack, i.id, receiver);
    const shards = stack.config.HOOKSYNC_INGEST_SHARDS;
    // The user's rules on their table.
    await stack.pool.query(`ALTER TABLE ${i.table} ADD CONSTRAINT users_rule CHECK (email IS DISTINCT FROM '${CHECKED}')`);
    await stack.pool.query(`CREATE UNIQUE INDEX ${i.table}_users_email ON ${i.table} (email)`);
    await stack.pool.query(`CREATE FUNCTION ${i.table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.email = '${RAISED}' THEN RAISE EXCEPTION 'refused by trigger: %', NEW.email USING HINT = 'hint ' || NEW.email; END IF;
        RETURN NEW;
      END $$`);
    await stack.pool.query(`CREATE TRIGGER users_trigger BEFORE INSERT OR UPDATE ON ${i.table} FOR EACH ROW EXECUTE FUNCTION ${i.table}_refuse()`);

    const [first, dup, checked] = keysInShard(`Priv${RUN}a`, 0, shards, 3);
    const [raised, after1] = keysInShard(`Priv${RUN}b`, shards > 1 ? 1 : 0, shards, 2);
    const send = async (id: string, email: string, n: number) => {
      const res = await postEvent(api.url, i.id, customerEvent({ type: 'customer.created', id, created: T0 + n, email }), WEBHOOK_SECRET);
      assert.equal(res.status, 200, `${id}: ${res.status}`);
    };
    await send(first!, DUP, 1);
    await waitFor(async () => (await stack.pool.query(`SELECT 1 FROM ${i.table} WHERE stripe_id = $1`, [first])).rowCount === 1, { what: 'the first customer' });
    await send(dup!, DUP, 2);
    await send(checked!, CHECKED, 3);
    const letters = await waitFor(async () => {
      const { rows } = await stack.pool.query('SELECT error FROM ingest_dead_letters WHERE integration_id = $1 ORDER BY id', [i.id]);
      return rows.length === 2 && rows.map((r) => r.error as string);
    }, { what: 'two dead letters' });
    // In PostgreSQL, beside the event, the whole error stays (for whoever fixes the rule).
    assert.ok(letters.some((e) => e.startsWith('23505') && e.includes(DUP)), letters.join(' | '));
    assert.ok(letters.some((e) => e.startsWith('23514') && e.includes(CHECKED)), letters.join(' | '));

    // A trigger's exception is no data error: the apply retries it, and says so in the details.
    await send(raised!, RAISED, 4);
    const handle = stack.temporal.client.workflow.getHandle(ingestWorkflowId(i.id, shards > 1 ? 1 : 0));
    const details = await waitFor(async () => {
      const d = await currentDetails(handle).catch(() => '');
      return /PostgreSQL error P0001/.test(d) && d;
    }, { what: 'the failing apply in the details', timeoutMs: 90_000 });
    assert.ok(!details.includes(RAISED));
    await stack.pool.query(`DROP TRIGGER users_trigger ON ${i.table}`);
    await send(after1!, `later-${RUN}@example.com`, 5);
    await waitFor(async () => (await stack.pool.query(`SELECT count(*)::int AS n FROM ${i.table}`)).rows[0].n === 3, { what: 'the raised one applied once the trigger is gone', timeoutMs: 90_000 });
    await triggerTarget(stack.deps, target.id);
    await waitFor(async () => receiver.requests.some((r) => r.accepted && r.raw.includes(RAISED)), { what: 'the rows delivered', timeoutMs: 60_000 });

    // Every run of every workflow of the integration, and its target's.
    const ids = [...Array.from({ length: shards }, (_, s) => ingestWorkflowId(i.id, s))];
    const runs: Array<{ workflowId: string; runId: string }> = [];
    for await (const wf of stack.temporal.client.workflow.list({ query: `HooksyncIntegrationId='${i.id}'` })) runs.push({ workflowId: wf.workflowId, runId: wf.runId });
    assert.ok(runs.some((r) => r.workflowId.startsWith('httpsync-')), 'the target workflow is among them');
    for (const id of ids) {
      const known = await stack.temporal.client.workflow.getHandle(id).describe().then((d) => d.runId, () => undefined);
      if (known && !runs.some((r) => r.runId === known)) runs.push({ workflowId: id, runId: known });
    }
    let bytes = 0;
    for (const r of runs) {
      const h = stack.temporal.client.workflow.getHandle(r.workflowId, r.runId);
      const raw = historyText(await h.fetchHistory()) + (await currentDetails(h).catch(() => ''));
      bytes += raw.length;
      for (const v of [...SECRET_VALUES, ...PG_DATA_TEXTS]) assert.ok(!raw.includes(v), `${r.workflowId} (run ${r.runId}) holds ${v}`);
    }
    assert.ok(runs.some((r) => r.workflowId === httpSyncWorkflowId(r.workflowId.slice('httpsync-'.length))));

    const logs = fs.readFileSync(api.child.logFile, 'utf8') + workers.map((w) => w.stderr()).join('');
    assert.match(logs, /moved to the dead letters/, 'the dead letters were logged');
    // (JSON log lines: the quotes are escaped.)
    assert.match(logs, /PostgreSQL error 23505 \(unique violation\), constraint \\?"[^"\\]*users_email\\?"/);
    assert.match(logs, /PostgreSQL error 23514 \(check violation\), constraint \\?"users_rule\\?"/);
    for (const v of [...SECRET_VALUES, ...PG_DATA_TEXTS]) assert.ok(!logs.includes(v), `the logs hold ${v}`);
    console.error(`[pg-errors] ${runs.length} runs, ${Math.round(bytes / 1024)} KB of history and ${Math.round(logs.length / 1024)} KB of logs searched`);
  });
});

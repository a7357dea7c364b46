import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import { createIntegration, type IntegrationView } from '../../src/services/integrations';
import { createTarget, TARGET_DEFAULTS, type TargetInput } from '../../src/services/targets';
import { type TargetView } from '../../src/services/target-view';
import { statusQuery } from '../../src/contract/messages';
import { httpSyncWorkflowId } from '../../src/contract/names';
import type { HttpSyncStatus } from '../../src/contract/httpsync';
import { waitFor, type Stack } from './harness';
import type { Receiver, ReceivedRequest } from './receiver';
import { workflowRuns } from './runs';

/** Helpers shared by the test/httpsync*.test.ts files. */

export const ROOT = path.join(__dirname, '..', '..');
export const HOOKSYNC_BIN = path.join(ROOT, 'bin', 'hooksync.js');
export const WEBHOOK_SECRET = 'whsec_httpsync_tests_0123456789';

/** The environment a child process (CLI, worker) needs to talk to this stack's services and worker. */
export function stackEnv(stack: Stack, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: stack.config.DATABASE_URL,
    TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
    HOOKSYNC_TASK_QUEUE: stack.config.HOOKSYNC_TASK_QUEUE,
    HOOKSYNC_HOME: process.env.HOOKSYNC_HOME,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    HOOKSYNC_ALLOWED_TARGET_HOSTS: process.env.HOOKSYNC_ALLOWED_TARGET_HOSTS,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ...(stack.config.HOOKSYNC_HISTORY_LIMIT ? { HOOKSYNC_HISTORY_LIMIT: String(stack.config.HOOKSYNC_HISTORY_LIMIT) } : {}),
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/hooksync.js …` as a child process; `stdin` is written and then closed. */
export function runCli(
  args: string[],
  opts: { env: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HOOKSYNC_BIN, ...args], { cwd: ROOT, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hooksync ${args.join(' ')} did not finish within ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    if (opts.stdin !== undefined) child.stdin.write(opts.stdin);
    child.stdin.end();
  });
}

/** A `hooksync worker` child process, its stderr captured. */
export interface WorkerChild {
  child: ChildProcess;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnWorker(env: NodeJS.ProcessEnv): WorkerChild {
  const child = spawn(process.execPath, [HOOKSYNC_BIN, 'worker'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (err += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exited };
}

/**
 * A `hooksync worker` child on the stack's task queue, at debug level (the strictest test of what
 * the worker writes), once it polls for activities. It joins `started` at once, so the caller's
 * clean-up kills it even when it never came to poll.
 */
export async function startPollingWorker(stack: Stack, started: WorkerChild[]): Promise<WorkerChild> {
  const w = spawnWorker(stackEnv(stack, { LOG_LEVEL: 'debug' }));
  started.push(w);
  const { connection } = stack.temporal;
  await waitFor(
    async () => {
      if (w.child.exitCode !== null) throw new Error(`the worker exited: ${w.stderr()}`);
      const r = await connection.workflowService.describeTaskQueue({
        namespace: stack.config.TEMPORAL_NAMESPACE,
        taskQueue: { name: stack.config.HOOKSYNC_TASK_QUEUE },
        taskQueueType: 2, // activities
      });
      return /worker running/.test(w.stderr()) && (r.pollers?.length ?? 0) > 0;
    },
    { what: 'the worker process to poll', timeoutMs: 90_000, intervalMs: 250 },
  );
  return w;
}

export async function newIntegration(stack: Stack): Promise<IntegrationView> {
  return createIntegration(stack.deps, { service: 'stripe_customer_v1', webhookSecret: WEBHOOK_SECRET });
}

/** Creates a target through the service layer (the CLI path is tested in httpsync-cli.test.ts). */
export async function newTarget(stack: Stack, integrationId: string, receiver: Receiver, opts: Partial<TargetInput> = {}): Promise<TargetView> {
  return createTarget(stack.deps, integrationId, {
    url: receiver.url,
    periodSeconds: TARGET_DEFAULTS.periodSeconds,
    pageSize: TARGET_DEFAULTS.pageSize,
    timeoutSeconds: TARGET_DEFAULTS.timeoutSeconds,
    mode: TARGET_DEFAULTS.mode,
    ...opts,
  });
}

export function targetHandle(stack: Stack, targetId: string) {
  return stack.temporal.client.workflow.getHandle(httpSyncWorkflowId(targetId));
}

export async function targetStatus(stack: Stack, targetId: string): Promise<HttpSyncStatus> {
  return targetHandle(stack, targetId).query(statusQuery);
}

/** Pages the receiver saw, without the verification POST made when a target is created. */
export function syncPages(receiver: Receiver): ReceivedRequest[] {
  return receiver.requests.filter((r) => r.headers['hooksync-verification'] === undefined);
}

export function acceptedPages(receiver: Receiver): ReceivedRequest[] {
  return syncPages(receiver).filter((r) => r.accepted);
}

/**
 * Inserts `n` customers with SQL (the table's defaults stamp _txid/_seq). Each row's version
 * counter `v` (in `balance` and `data.v`) starts at 1.
 */
export async function insertCustomers(db: pg.Pool | pg.PoolClient, table: string, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.query(
    `INSERT INTO ${table} (stripe_id, balance, email, name, updated, data)
     SELECT k, 1, k || '@example.com', 'customer ' || k, clock_timestamp(),
            jsonb_build_object('id', k, 'object', 'customer', 'v', 1)
       FROM unnest($1::text[]) AS k`,
    [keys],
  );
}

/** Updates customers the way the upsert does: a new version (v + 1), re-stamped for the cursor. */
export async function updateCustomers(db: pg.Pool | pg.PoolClient, table: string, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await db.query(
    `UPDATE ${table}
        SET balance = balance + 1, updated = clock_timestamp(),
            data = jsonb_set(data, '{v}', to_jsonb(balance + 1)),
            _txid = pg_current_xact_id(), _seq = nextval('${table}_seq'), _changed_at = now()
      WHERE stripe_id = ANY($1::text[])`,
    [keys],
  );
}

export const keysOf = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${String(from + i).padStart(5, '0')}`);

/** key → version (`balance`) of the rows in the table. */
export async function tableVersions(db: pg.Pool, table: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ stripe_id: string; balance: string }>(`SELECT stripe_id, balance FROM ${table}`);
  return new Map(rows.map((r) => [r.stripe_id, Number(r.balance)]));
}

/** key → the last accepted version at the receiver. */
export function receivedVersions(receiver: Receiver): Map<string, number> {
  const m = new Map<string, number>();
  for (const page of acceptedPages(receiver)) for (const row of page.body.rows) m.set(row.stripe_id, Number(row.balance));
  return m;
}

/** Waits until the receiver's last accepted version of every row equals the table's. */
export async function waitForConvergence(stack: Stack, receiver: Receiver, table: string, opts: { timeoutMs?: number; what?: string } = {}) {
  let last = '';
  await waitFor(
    async () => {
      const want = await tableVersions(stack.pool, table);
      const got = receivedVersions(receiver);
      const missing = [...want].filter(([k, v]) => got.get(k) !== v);
      last = `${missing.length} of ${want.size} rows not (yet) at their latest version, e.g. ${JSON.stringify(missing.slice(0, 3))}`;
      return missing.length === 0 && got.size === want.size;
    },
    { timeoutMs: opts.timeoutMs ?? 30_000, intervalMs: 200, what: `${opts.what ?? 'the receiver to hold the table'} (${last})` },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last check: ${last}`);
  });
}

/**
 * The ordering guarantee: per key, versions across accepted pages never go down. With `strict`,
 * no version arrives twice either (no page was ever re-sent after a 2xx).
 */
export function assertVersionsInOrder(from: Receiver | ReceivedRequest[], opts: { strict?: boolean } = {}): number {
  const seen = new Map<string, number>();
  let checked = 0;
  for (const page of Array.isArray(from) ? from : acceptedPages(from)) {
    for (const row of page.body.rows) {
      const v = Number(row.balance);
      const before = seen.get(row.stripe_id);
      if (before !== undefined && (opts.strict ? v <= before : v < before)) {
        throw new Error(`row ${row.stripe_id}: version ${v} arrived after version ${before} (page ${page.pageId})`);
      }
      seen.set(row.stripe_id, v);
      checked++;
    }
  }
  return checked;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every text a value holds, bytes decoded as UTF-8 (Temporal payloads) and also as base64. */
export function allText(value: unknown): string {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') return void out.push(v);
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return void out.push(String(v));
    if (v instanceof Uint8Array) {
      const buf = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      out.push(buf.toString('utf8'), buf.toString('base64'), buf.toString('latin1'));
      return;
    }
    if (typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, x] of v) {
        walk(k);
        walk(x);
      }
      return;
    }
    if (Array.isArray(v)) return v.forEach(walk);
    if (v instanceof Date) return void out.push(v.toISOString());
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      walk(x);
    }
  };
  walk(value);
  return out.join('\n');
}

/** Forms in which a Basic Auth secret could show up: the password, URL-encoded, and in the header. */
export function secretForms(user: string, password: string): string[] {
  return [password, encodeURIComponent(password), Buffer.from(`${user}:${password}`).toString('base64')];
}

export function assertNoSecret(text: string, secrets: string[], where: string): void {
  for (const s of secrets) {
    if (text.includes(s)) {
      const i = text.indexOf(s);
      throw new Error(`a secret (${s.slice(0, 3)}…) appears in ${where}: …${text.slice(Math.max(0, i - 80), i)}[SECRET]…`);
    }
  }
}

/** Runs `wait`; when it fails, adds the target's live state and backlog to the error. */
export async function explained<T>(stack: Stack, targetId: string, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } catch (err) {
    const { targetInfo } = await import('../../src/services/target-info');
    const info = await targetInfo(stack.deps, targetId).catch((e: Error) => ({ error: e.message }));
    const { rows } = await stack.pool
      .query(`SELECT datname, now() - xact_start AS age, backend_xid::text, left(query, 60) AS query FROM pg_stat_activity
               WHERE backend_xid IS NOT NULL AND now() - xact_start > interval '500 ms'`)
      .catch(() => ({ rows: [] as unknown[] }));
    throw new Error(`${(err as Error).message}\ntarget: ${JSON.stringify(info)}\nlong transactions in the cluster: ${JSON.stringify(rows)}`);
  }
}

/** The runs of a workflow (one per continue-as-new), oldest first, each with its event count from its own history. */
export async function runsWithEvents(client: Client, workflowId: string): Promise<Array<{ runId: string; status: string; events: number }>> {
  return (await workflowRuns(client, workflowId)).map(({ runId, status, events }) => ({ runId, status, events }));
}

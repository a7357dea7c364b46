import crypto from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createTableSql } from '../src/integrations/sql';
import { createIntegration } from '../src/services/integrations';
import type { ServiceDeps } from '../src/services/deps';
import { spawnNode, type Child } from '../test/support/children';
import { CpuMeter, cpuPer, describeCpu, withApplicationName, type CpuUsage } from './cpu';
import { ingestHistoryStats, type IngestHistoryStats } from './history';
import { closedLoop, summarize, webhookClient } from '../test/support/load';
import { childEnv, type Resources } from '../test/support/services';
import { CustomerStream } from '../test/support/stripe-events';

export interface IngestRun {
  senders: number;
  sent: number;
  accepted: number;
  failed: number;
  failures: Record<string, number>;
  /** Senders' time, s. */
  sendSeconds: number;
  /** 2xx answers per second while sending. */
  acceptedPerSecond: number;
  /** Accepted events per second from the first request until the table reflected all of them. */
  appliedPerSecond: number;
  /** From the last answer until the table reflected everything, ms (Temporal's backlog); the mean over segments. */
  applyLagMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Events of this run by kind (created, updated, deleted, stale = out of order). */
  mix: Record<string, number>;
  /** CPU ms per process over the run (the sum of its segments). */
  cpu: CpuUsage['ms'];
  machineBusy: number;
  /** CPU ms per event of this system's processes and their PostgreSQL backends (hooksync: api, worker, Temporal). */
  cpuMsPerEvent: number;
  /** The same per process (`pg`: the PostgreSQL backends serving them, together). */
  cpuMsPerEventByProcess: Record<string, number>;
  /** hooksync only: events per INSERT into the inbox, on average since the API started (its /metrics). */
  groupRows?: number;
  /** hooksync only: what Temporal did, from the ingest workflows' histories. */
  temporal?: IngestHistoryStats;
  /** The measured intervals: CLOCK_MONOTONIC µs (for profiles) and wall-clock ms. */
  windows: Array<{ fromUs: number; toUs: number; fromMs: number; toMs: number }>;
}

export interface IngestLevel {
  senders: number;
  hooksync: IngestRun;
  baseline: IngestRun;
  /** hooksync / baseline, events per second accepted and upserted. */
  ratio: number;
  /** baseline / hooksync CPU per event: above 1, hooksync spends less CPU per event. */
  cpuEfficiency: number;
}

export interface IngestOptions {
  levels: number[];
  /** Per system and level, split into two segments (order A B B A, to cancel drift in the machine's load). */
  seconds: number;
  warmupSeconds: number;
  customers: number;
  apiUrl: string;
  databaseUrl: string;
  logDir: string;
  nodeFlags: string[];
  cpu: CpuMeter;
  log: (msg: string) => void;
}

interface System {
  name: 'hooksync' | 'baseline';
  path: string;
  table: string;
  stream: CustomerStream;
  client: ReturnType<typeof webhookClient>;
  /** Processes whose CPU (and PostgreSQL backends') counts for this system. */
  processes: string[];
}

interface Segment {
  sent: number;
  accepted: number;
  failures: Record<string, number>;
  sendMs: number;
  /** First request until the table reflected everything. */
  spanMs: number;
  lagMs: number;
  latencies: Float64Array;
  mix: Record<string, number>;
  cpu: CpuUsage;
  fromMs: number;
  toMs: number;
}

/** Polls until the table holds exactly what the accepted events say: every customer at its newest accepted version. */
async function waitReflected(pool: pg.Pool, sys: System, timeoutMs: number): Promise<number> {
  const sql = `SELECT count(*)::int AS rows, coalesce(sum(extract(epoch FROM updated)), 0)::float8 AS sum FROM "${sys.table}"`;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ rows: number; sum: number }>(sql);
    const last = rows[0]!;
    const now = performance.now();
    const want = sys.stream.expected();
    if (last.rows === want.rows && last.sum === want.sumTs) return now;
    if (now > deadline) {
      throw new Error(`${sys.name}: the table holds ${last.rows} rows (sum ${last.sum}), expected ${want.rows} (sum ${want.sumTs}) after ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runSegment(pool: pg.Pool, sys: System, senders: number, seconds: number, meter: CpuMeter): Promise<Segment> {
  const before = { ...sys.stream.counts };
  const cpuBefore = await meter.snapshot();
  const fromMs = Date.now();
  const r = await closedLoop({ client: sys.client, path: sys.path, senders, durationMs: seconds * 1000, next: () => sys.stream.next() });
  const started = performance.now() - r.elapsedMs;
  const sendEnd = performance.now();
  const reflected = await waitReflected(pool, sys, 120_000);
  const cpu = CpuMeter.since(cpuBefore, await meter.snapshot());
  return {
    sent: r.sent,
    accepted: r.accepted,
    failures: r.failures,
    sendMs: r.elapsedMs,
    spanMs: reflected - started,
    lagMs: Math.max(0, reflected - sendEnd),
    latencies: r.latencies,
    mix: Object.fromEntries(Object.entries(sys.stream.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]])),
    cpu,
    fromMs,
    toMs: Date.now(),
  };
}

function combine(sys: System, senders: number, segments: Segment[]): IngestRun {
  const sum = (f: (s: Segment) => number) => segments.reduce((a, s) => a + f(s), 0);
  const accepted = sum((s) => s.accepted);
  const sent = sum((s) => s.sent);
  const failures: Record<string, number> = {};
  const mix: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  for (const s of segments) {
    for (const [k, v] of Object.entries(s.failures)) failures[k] = (failures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.mix)) mix[k] = (mix[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.cpu.ms)) cpu[k] = (cpu[k] ?? 0) + v;
  }
  const all = new Float64Array(sum((s) => s.latencies.length));
  let at = 0;
  for (const s of segments) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  const lat = summarize(all);
  const usage: CpuUsage = { ms: cpu, machineBusy: NaN, window: segments[0]!.cpu.window };
  return {
    senders,
    sent,
    accepted,
    failed: sent - accepted,
    failures,
    sendSeconds: sum((s) => s.sendMs) / 1000,
    acceptedPerSecond: accepted / (sum((s) => s.sendMs) / 1000),
    appliedPerSecond: accepted / (sum((s) => s.spanMs) / 1000),
    applyLagMs: sum((s) => s.lagMs) / segments.length,
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    mix,
    cpu,
    machineBusy: sum((s) => s.cpu.machineBusy * s.spanMs) / sum((s) => s.spanMs),
    cpuMsPerEvent: cpuPer(usage, sys.processes, accepted),
    cpuMsPerEventByProcess: Object.fromEntries([
      ...sys.processes.map((p) => [p, cpuPer({ ...usage, ms: { [p]: cpu[p] ?? 0 } }, [p], accepted)]),
      ['pg', cpuPer({ ...usage, ms: Object.fromEntries(sys.processes.map((p) => [`pg:${p}`, cpu[`pg:${p}`] ?? 0])) }, sys.processes, accepted)],
    ]),
    windows: segments.map((s) => ({ ...s.cpu.window, fromMs: s.fromMs, toMs: s.toMs })),
  };
}

/** The API's average events per inbox INSERT, from its /metrics. */
async function insertGroupSize(apiUrl: string): Promise<number | undefined> {
  const text = await (await fetch(`${apiUrl}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const avg = value('hooksync_inbox_insert_rows_sum') / value('hooksync_inbox_insert_rows_count');
  return Number.isFinite(avg) ? avg : undefined;
}

async function historyStats(deps: ServiceDeps, integrationId: string, run: IngestRun, log: (msg: string) => void): Promise<IngestHistoryStats | undefined> {
  try {
    const parts = await Promise.all(run.windows.map((w) => ingestHistoryStats(deps.temporal.client, integrationId, w.fromMs, w.toMs)));
    const total = parts.reduce((a, p) => ({
      wakeUps: a.wakeUps + p.wakeUps,
      applies: a.applies + p.applies,
      eventsTaken: a.eventsTaken + p.eventsTaken,
      workflowTasks: a.workflowTasks + p.workflowTasks,
      historyEvents: a.historyEvents + p.historyEvents,
      runs: a.runs + p.runs,
      eventsPerApply: 0,
    }));
    return { ...total, eventsPerApply: total.eventsTaken / total.applies };
  } catch (err) {
    log(`ingest: could not read the ingest workflows' histories: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Signed Stripe events at 1, 16 and 64 closed-loop senders into hooksync's API and into the plain
 * handler, each into its own identically shaped table. Per level the two alternate A B B A in
 * half-length segments; a segment ends when its table reflects every accepted event.
 */
export interface IngestPhaseResult {
  levels: IngestLevel[];
  /** hooksync's warm-up requests: they count for "every response 2xx" too. */
  warmup: { sent: number; failed: number; failures: Record<string, number> };
  baselineChild: Child;
}

export async function ingestPhase(deps: ServiceDeps, res: Resources, opts: IngestOptions): Promise<IngestPhaseResult> {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64url')}`;
  const integration = await createIntegration(deps, { service: stripeCustomerV1.service, webhookSecret: secret });
  const baselineTable = `bench_baseline_${crypto.randomBytes(2).toString('hex')}`;
  for (const stmt of createTableSql(stripeCustomerV1, baselineTable)) await deps.pool.query(stmt);

  const baselineChild = spawnNode({
    name: 'baseline-ingest',
    args: [...opts.nodeFlags, '--import', 'tsx', path.join(__dirname, 'baseline-ingest.ts')],
    env: childEnv({
      DATABASE_URL: withApplicationName(opts.databaseUrl, 'baseline-ingest'),
      BENCH_TABLE: baselineTable,
      BENCH_SECRET: secret,
      PORT: '0',
    }),
    logDir: opts.logDir,
  });
  res.add('baseline-ingest', () => baselineChild.stop());
  opts.cpu.track('baseline-ingest', baselineChild.pid);
  const line = await baselineChild.waitForOutput(/baseline-ingest listening on \d+/, 60_000);
  const baselineOrigin = `http://127.0.0.1:${/on (\d+)/.exec(line)![1]}`;

  const maxSenders = Math.max(...opts.levels);
  const baseline: System = {
    name: 'baseline',
    path: '/v1/webhooks/baseline',
    table: baselineTable,
    stream: new CustomerStream({ name: `baseline-${integration.id}`, customers: opts.customers, secret }),
    client: webhookClient(baselineOrigin, maxSenders),
    processes: ['baseline-ingest'],
  };
  const hooksync: System = {
    name: 'hooksync',
    path: `/v1/webhooks/${integration.id}`,
    table: integration.table,
    stream: new CustomerStream({ name: `hooksync-${integration.id}`, customers: opts.customers, secret }),
    client: webhookClient(opts.apiUrl, maxSenders),
    processes: ['api', 'worker', 'temporal'],
  };
  res.add('webhook clients', async () => {
    await Promise.allSettled([baseline.client.destroy(), hooksync.client.destroy()]);
  });

  // Warm-up (JIT, connections, the ingest workflows started), not measured; its answers count too.
  const warmup = { sent: 0, failed: 0, failures: {} as Record<string, number> };
  for (const sys of [baseline, hooksync]) {
    opts.log(`ingest: warming up ${sys.name} (${opts.warmupSeconds} s at ${maxSenders} senders)…`);
    const w = await runSegment(deps.pool, sys, maxSenders, opts.warmupSeconds, opts.cpu);
    if (sys === hooksync) Object.assign(warmup, { sent: w.sent, failed: w.sent - w.accepted, failures: w.failures });
  }

  const levels: IngestLevel[] = [];
  for (const senders of opts.levels) {
    const segments = new Map<System, Segment[]>([
      [baseline, []],
      [hooksync, []],
    ]);
    for (const sys of [baseline, hooksync, hooksync, baseline]) {
      segments.get(sys)!.push(await runSegment(deps.pool, sys, senders, opts.seconds / 2, opts.cpu));
      // A breath between segments (connections settle, autovacuum may start), shorter in a quick run.
      await new Promise((r) => setTimeout(r, Math.min(200, opts.seconds * 40)));
    }
    const h = combine(hooksync, senders, segments.get(hooksync)!);
    const b = combine(baseline, senders, segments.get(baseline)!);
    h.temporal = await historyStats(deps, integration.id, h, opts.log);
    h.groupRows = await insertGroupSize(opts.apiUrl).catch(() => undefined);
    for (const [name, r] of [['baseline', b], ['hooksync', h]] as const) {
      opts.log(
        `ingest: ${name.padEnd(8)} ${String(senders).padStart(2)} senders: ${Math.round(r.appliedPerSecond)} ev/s accepted+upserted ` +
          `(${Math.round(r.acceptedPerSecond)}/s accepted, lag ${Math.round(r.applyLagMs)} ms), p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms` +
          (r.failed ? `, ${r.failed} failed ${JSON.stringify(r.failures)}` : ''),
      );
      opts.log(`        ${describeCpu({ ms: r.cpu, machineBusy: r.machineBusy, window: r.windows[0]! }, r.accepted, 1000, 'events')}`);
      if (r.groupRows) opts.log(`        inbox INSERTs of ${r.groupRows.toFixed(1)} events on average (so far)`);
      const t = r.temporal;
      if (t) {
        opts.log(
          `        Temporal: ${t.wakeUps} wake-ups for ${r.accepted} events, ${t.applies} applies of ${t.eventsPerApply.toFixed(1)} events, ` +
            `${t.workflowTasks} workflow tasks, ${t.historyEvents} history events`,
        );
      }
    }
    levels.push({ senders, hooksync: h, baseline: b, ratio: h.appliedPerSecond / b.appliedPerSecond, cpuEfficiency: b.cpuMsPerEvent / h.cpuMsPerEvent });
  }
  return { levels, warmup, baselineChild };
}

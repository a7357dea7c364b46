import crypto from 'node:crypto';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createTableSql } from '../src/integrations/sql';
import type { Child } from '../test/support/children';
import { closedLoop, summarize, webhookClient } from '../test/support/load';
import { metric } from '../test/support/metrics';
import { CustomerStream } from '../test/support/stripe-events';
import { spawnBaseline, stripeIntegration, type Bench } from './context';
import { CpuMeter, cpuPer, type CpuUsage } from './cpu';
import { ingestHistoryStats, type IngestHistoryStats } from './history';

interface System {
  name: 'hooksync' | 'baseline';
  /** The webhook path on `client`'s origin. */
  path: string;
  table: string;
  stream: CustomerStream;
  client: ReturnType<typeof webhookClient>;
  /** Processes whose CPU (and PostgreSQL backends') counts for this system. */
  processes: string[];
}

type Segment = Awaited<ReturnType<typeof runSegment>>;
export type IngestRun = ReturnType<typeof combine>;
export type IngestLevel = Awaited<ReturnType<typeof ingestPhase>>['levels'][number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until the table holds exactly what the accepted events say: every customer at its newest accepted version. */
async function waitReflected(b: Bench, sys: System, timeoutMs: number): Promise<number> {
  const sql = `SELECT count(*)::int AS rows, coalesce(sum(extract(epoch FROM updated)), 0)::float8 AS sum FROM "${sys.table}"`;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { rows } = await b.deps.pool.query<{ rows: number; sum: number }>(sql);
    const now = performance.now();
    const have = rows[0]!;
    const want = sys.stream.expected();
    if (have.rows === want.rows && have.sum === want.sumTs) return now;
    if (now > deadline) {
      throw new Error(`${sys.name}: the table holds ${have.rows} rows (sum ${have.sum}), expected ${want.rows} (sum ${want.sumTs}) after ${timeoutMs / 1000} s`);
    }
    await sleep(20);
  }
}

/** Senders for `seconds`, then the wait until the table reflects every accepted event. */
async function runSegment(b: Bench, sys: System, senders: number, seconds: number) {
  const before = { ...sys.stream.counts };
  const cpuBefore = await b.cpu.snapshot();
  const fromMs = Date.now();
  const r = await closedLoop({ client: sys.client, path: sys.path, senders, durationMs: seconds * 1000, next: () => sys.stream.next() });
  const sendEnd = performance.now();
  const reflected = await waitReflected(b, sys, 120_000);
  const cpu = CpuMeter.since(cpuBefore, await b.cpu.snapshot());
  const mix = Object.entries(sys.stream.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]] as const);
  return {
    load: r,
    /** First request until the table reflected everything, ms. */
    spanMs: reflected - (sendEnd - r.elapsedMs),
    lagMs: Math.max(0, reflected - sendEnd),
    mix: Object.fromEntries(mix),
    cpu,
    window: { fromMs, toMs: Date.now() },
  };
}

/** Adds up the values of records by key. */
function addUp(records: Array<Record<string, number>>): Record<string, number> {
  const sum: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) sum[k] = (sum[k] ?? 0) + v;
  return sum;
}

function combine(sys: System, senders: number, segments: Segment[]) {
  const sum = (f: (s: Segment) => number) => segments.reduce((a, s) => a + f(s), 0);
  const accepted = sum((s) => s.load.accepted);
  const sent = sum((s) => s.load.sent);
  const sendSeconds = sum((s) => s.load.elapsedMs) / 1000;
  const lat = summarize(segments.flatMap((s) => [...s.load.latencies]));
  const cpu = addUp(segments.map((s) => s.cpu));
  const pg = sys.processes.reduce((a, p) => a + (cpu[`pg:${p}`] ?? 0), 0);
  return {
    senders,
    sent,
    accepted,
    failed: sent - accepted,
    failures: addUp(segments.map((s) => s.load.failures)),
    /** 2xx answers per second while sending. */
    acceptedPerSecond: accepted / sendSeconds,
    /** Accepted events per second from the first request until the table reflected all of them. */
    appliedPerSecond: accepted / (sum((s) => s.spanMs) / 1000),
    /** From the last answer until the table reflected everything, ms (Temporal's backlog); the mean over segments. */
    applyLagMs: sum((s) => s.lagMs) / segments.length,
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    /** Events of this run by kind (created, updated, deleted, stale = out of order). */
    mix: addUp(segments.map((s) => s.mix)),
    /** CPU ms per process over the run (the sum of its segments). */
    cpu,
    /** CPU ms per event of this system's processes and their PostgreSQL backends (hooksync: api, worker, Temporal). */
    cpuMsPerEvent: cpuPer(cpu, sys.processes, accepted),
    /** The same per process (`pg`: the PostgreSQL backends serving them, together). */
    cpuMsPerEventByProcess: Object.fromEntries([...sys.processes.map((p) => [p, (cpu[p] ?? 0) / accepted]), ['pg', pg / accepted]]),
    /** hooksync only: events per INSERT into the inbox, on average since the API started (its /metrics). */
    groupRows: undefined as number | undefined,
    /** hooksync only: what Temporal did, from the ingest workflows' histories. */
    temporal: undefined as IngestHistoryStats | undefined,
    /** The measured intervals, wall clock. */
    windows: segments.map((s) => s.window),
  };
}

/** The API's average events per inbox INSERT, from its /metrics. */
async function insertGroupSize(metricsUrl: string): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  const avg = metric(text, 'hooksync_inbox_insert_rows_sum') / metric(text, 'hooksync_inbox_insert_rows_count');
  return Number.isFinite(avg) ? avg : undefined;
}

function logRun(b: Bench, name: string, r: IngestRun): void {
  b.log(
    `ingest: ${name.padEnd(8)} ${String(r.senders).padStart(2)} senders: ${Math.round(r.appliedPerSecond)} ev/s accepted+upserted ` +
      `(${Math.round(r.acceptedPerSecond)}/s accepted, lag ${Math.round(r.applyLagMs)} ms), ` +
      `p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms` +
      (r.failed ? `, ${r.failed} failed ${JSON.stringify(r.failures)}` : ''),
  );
  const t = r.temporal;
  if (t) {
    b.log(
      `        Temporal: ${t.wakeUps} wake-ups, ${t.applies} applies of ${t.eventsPerApply.toFixed(1)} events, ${t.workflowTasks} workflow tasks, ` +
        `${t.historyEvents} history events; inbox INSERTs of ${r.groupRows?.toFixed(1) ?? '?'} events on average (so far)`,
    );
  }
}

/** The plain handler, in its own process, with its own table shaped like the integration's. */
async function startBaseline(b: Bench, secret: string): Promise<{ child: Child; origin: string; table: string }> {
  const table = `bench_baseline_${crypto.randomBytes(2).toString('hex')}`;
  for (const stmt of createTableSql(stripeCustomerV1, table)) await b.deps.pool.query(stmt);
  const child = spawnBaseline(b, 'baseline-ingest', { BENCH_TABLE: table, BENCH_SECRET: secret, PORT: '0' });
  const line = await child.waitForOutput(/baseline-ingest listening on \d+/, 60_000);
  return { child, origin: `http://127.0.0.1:${/on (\d+)/.exec(line)![1]}`, table };
}

/**
 * Signed Stripe events at 1, 16 and 64 closed-loop senders into hooksync's API and into the plain
 * handler, each into its own identically shaped table. Per level the two alternate A B B A in
 * segments of half the `seconds` (to cancel drift in the machine's load); a segment ends when its
 * table reflects every accepted event.
 */
export async function ingestPhase(b: Bench, opts: { levels: number[]; seconds: number; warmupSeconds: number; customers: number }) {
  const { secret, integration } = await stripeIntegration(b);
  const plain = await startBaseline(b, secret);
  const maxSenders = Math.max(...opts.levels);
  const system = (name: System['name'], origin: string, path: string, table: string, processes: string[]): System => ({
    name,
    path,
    table,
    stream: new CustomerStream({ name: `${name}-${integration.id}`, customers: opts.customers, secret }),
    client: webhookClient(origin, maxSenders),
    processes,
  });
  const baseline = system('baseline', plain.origin, '/v1/webhooks/baseline', plain.table, ['baseline-ingest']);
  const hooksync = system('hooksync', b.apiUrl, `/v1/webhooks/${integration.id}`, integration.table, ['api', 'worker', 'temporal']);
  b.res.add('webhook clients', async () => {
    await Promise.allSettled([baseline.client.destroy(), hooksync.client.destroy()]);
  });

  // Warm-up (JIT, connections, the ingest workflows started), not measured; hooksync's answers
  // count for "every response 2xx" too.
  let warmup = { sent: 0, failed: 0, failures: {} as Record<string, number> };
  for (const sys of [baseline, hooksync]) {
    b.log(`ingest: warming up ${sys.name} (${opts.warmupSeconds} s at ${maxSenders} senders)…`);
    const { load } = await runSegment(b, sys, maxSenders, opts.warmupSeconds);
    if (sys === hooksync) warmup = { sent: load.sent, failed: load.failed, failures: load.failures };
  }

  const levels = [];
  for (const senders of opts.levels) {
    const segments = { baseline: [] as Segment[], hooksync: [] as Segment[] };
    for (const sys of [baseline, hooksync, hooksync, baseline]) {
      segments[sys.name].push(await runSegment(b, sys, senders, opts.seconds / 2));
      // A breath between segments (connections settle, autovacuum may start), shorter in a quick run.
      await sleep(Math.min(200, opts.seconds * 40));
    }
    const h = combine(hooksync, senders, segments.hooksync);
    const p = combine(baseline, senders, segments.baseline);
    h.temporal = await ingestHistoryStats(b.deps.temporal.client, integration.id, h.windows).catch((err: Error) => {
      b.log(`ingest: could not read the ingest workflows' histories: ${err.message}`);
      return undefined;
    });
    h.groupRows = await insertGroupSize(b.metricsUrl).catch(() => undefined);
    logRun(b, 'baseline', p);
    logRun(b, 'hooksync', h);
    levels.push({
      senders,
      hooksync: h,
      baseline: p,
      /** hooksync / baseline, events per second accepted and upserted. */
      ratio: h.appliedPerSecond / p.appliedPerSecond,
      /** baseline / hooksync CPU per event: above 1, hooksync spends less CPU per event. */
      cpuEfficiency: p.cpuMsPerEvent / h.cpuMsPerEvent,
    });
  }
  return { levels, warmup, baselineChild: plain.child };
}

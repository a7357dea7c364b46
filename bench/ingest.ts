import crypto from 'node:crypto';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createTableSql } from '../src/integrations/sql';
import type { Child } from '../test/support/children';
import { summarize } from '../test/support/load';
import { metric } from '../test/support/metrics';
import { localTime, spawnBaseline, stripeIntegration, type Bench } from './context';
import { CLUSTER, CpuMeter, cpuPer } from './cpu';
import type { LoadCommand, LoadReport } from './loadgen';
import { ingestHistoryStats, type IngestHistoryStats } from './history';

export interface System {
  name: 'hooksync' | 'baseline' | 'koa';
  origin: string;
  /** The webhook path on `origin`. */
  path: string;
  table: string;
  /** Its events' stream in the load generator. */
  stream: LoadCommand['stream'];
  /** Processes whose CPU (and PostgreSQL backends') counts for this system. */
  processes: string[];
}

type Segment = Awaited<ReturnType<typeof runSegment>>;
export type IngestRun = ReturnType<typeof combine>;
export type IngestLevel = Awaited<ReturnType<typeof ingestPhase>>['levels'][number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until the table holds exactly what the accepted events say (every customer at its newest
 * accepted version); returns the moment it did, as performance.now().
 */
export async function waitReflected(b: Bench, sys: System, want: LoadReport['expected'], timeoutMs: number): Promise<number> {
  const sql = `SELECT count(*)::int AS rows, coalesce(sum(extract(epoch FROM updated)), 0)::float8 AS sum FROM "${sys.table}"`;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { rows } = await b.deps.pool.query<{ rows: number; sum: number }>(sql);
    const now = performance.now();
    const have = rows[0]!;
    if (have.rows === want.rows && have.sum === want.sumTs) return now;
    if (now > deadline) {
      throw new Error(`${sys.name}: the table holds ${have.rows} rows (sum ${have.sum}), expected ${want.rows} (sum ${want.sumTs}) after ${timeoutMs / 1000} s`);
    }
    await sleep(20);
  }
}

/**
 * One run of the load generator (closed loop: `senders` for `seconds` or `count` events; open
 * loop: `ratePerSecond`), then the wait until the table reflects every accepted event. The CPU
 * counted runs from before the first send until then, idle time included.
 */
export async function runSegment(b: Bench, sys: System, load: Pick<LoadCommand, 'senders' | 'ratePerSecond' | 'count'> & { seconds: number }) {
  const cpuBefore = await b.cpu.snapshot();
  const fromMs = Date.now();
  const r = await b.loadgen.run({
    stream: sys.stream,
    origin: sys.origin,
    path: sys.path,
    senders: load.senders,
    ratePerSecond: load.ratePerSecond,
    count: load.count,
    durationMs: load.count ? 3_600_000 : load.seconds * 1000,
  });
  const reflected = await waitReflected(b, sys, r.expected, 120_000);
  const cpu = CpuMeter.since(cpuBefore, await b.cpu.snapshot());
  const sendStart = localTime(r.startedAt);
  return {
    load: { ...r, elapsedMs: r.endedAt - r.startedAt },
    /** First request until the table reflected everything, ms. */
    spanMs: reflected - sendStart,
    lagMs: Math.max(0, reflected - localTime(r.endedAt)),
    mix: r.mix,
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
  const lat = summarize(segments.flatMap((s) => s.load.latencies));
  const cpu = addUp(segments.map((s) => s.cpu));
  const pg = sys.processes.reduce((a, p) => a + (cpu[`pg:${p}`] ?? 0), 0);
  const own = sys.processes.reduce((a, p) => a + (cpu[p] ?? 0), 0);
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
    /**
     * CPU ms per event of this system's processes and every process of the PostgreSQL cluster
     * (only this system was loaded meanwhile): what the machine spent on it. NaN when the server
     * is not on this machine.
     */
    cpuMsPerEventAll: cpu[CLUSTER] === undefined ? NaN : (own + cpu[CLUSTER]) / accepted,
    /** The same per process, `postgres` being the whole cluster. */
    cpuMsPerEventAllByProcess: Object.fromEntries([...sys.processes.map((p) => [p, (cpu[p] ?? 0) / accepted]), [CLUSTER, (cpu[CLUSTER] ?? NaN) / accepted]]),
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

/** A baseline handler (bench/<name>.ts), in its own process, with its own table shaped like the integration's. */
export async function startBaseline(b: Bench, name: string, secret: string): Promise<{ child: Child; origin: string; table: string }> {
  const table = `bench_${name.replace(/-/g, '_')}_${crypto.randomBytes(2).toString('hex')}`;
  for (const stmt of createTableSql(stripeCustomerV1, table)) await b.deps.pool.query(stmt);
  const child = spawnBaseline(b, name, { BENCH_TABLE: table, BENCH_SECRET: secret, PORT: '0' });
  const line = await child.waitForOutput(new RegExp(`${name} listening on \\d+`), 60_000);
  return { child, origin: `http://127.0.0.1:${/on (\d+)/.exec(line)![1]}`, table };
}

/**
 * Signed Stripe events from the load generator at 1, 16 and 64 closed-loop senders into hooksync's
 * API, into the lean hand-written handler (`baseline-lean-ingest.ts`) and into the Koa handler
 * with hooksync's own SQL (`baseline-ingest.ts`), each into its own identically shaped table. Per
 * level the three alternate A B C C B A in segments of half the `seconds` (the top level: half of
 * `eventsAtTop` events each, when given), to cancel drift in the machine's load; a segment ends
 * when its table reflects every accepted event.
 */
export async function ingestPhase(b: Bench, opts: { levels: number[]; seconds: number; warmupSeconds: number; customers: number; eventsAtTop?: number }) {
  const { secret, integration } = await stripeIntegration(b);
  const lean = await startBaseline(b, 'baseline-lean-ingest', secret);
  const koa = await startBaseline(b, 'baseline-ingest', secret);
  const maxSenders = Math.max(...opts.levels);
  const system = (name: System['name'], origin: string, path: string, table: string, processes: string[]): System => ({
    name,
    origin,
    path,
    table,
    stream: { name: `${name}-${integration.id}`, customers: opts.customers, secret },
    processes,
  });
  const baseline = system('baseline', lean.origin, '/v1/webhooks/baseline', lean.table, ['baseline-lean-ingest']);
  const koaBaseline = system('koa', koa.origin, '/v1/webhooks/baseline', koa.table, ['baseline-ingest']);
  const hooksync = system('hooksync', b.apiUrl, `/v1/webhooks/${integration.id}`, integration.table, ['api', 'worker', 'temporal']);

  // Warm-up (JIT, connections, the ingest workflows started), not measured; hooksync's answers
  // count for "every response 2xx" too.
  let warmup = { sent: 0, failed: 0, failures: {} as Record<string, number> };
  for (const sys of [baseline, koaBaseline, hooksync]) {
    b.log(`ingest: warming up ${sys.name} (${opts.warmupSeconds} s at ${maxSenders} senders)…`);
    const { load } = await runSegment(b, sys, { senders: maxSenders, seconds: opts.warmupSeconds });
    if (sys === hooksync) warmup = { sent: load.sent, failed: load.failed, failures: load.failures };
  }

  const levels = [];
  for (const senders of opts.levels) {
    const segments = { baseline: [] as Segment[], koa: [] as Segment[], hooksync: [] as Segment[] };
    const count = senders === maxSenders && opts.eventsAtTop ? Math.ceil(opts.eventsAtTop / 2) : undefined;
    for (const sys of [baseline, hooksync, koaBaseline, koaBaseline, hooksync, baseline]) {
      segments[sys.name].push(await runSegment(b, sys, { senders, seconds: opts.seconds / 2, count }));
      // A breath between segments (connections settle, autovacuum may start), shorter in a quick run.
      await sleep(Math.min(200, opts.seconds * 40));
    }
    const h = combine(hooksync, senders, segments.hooksync);
    const p = combine(baseline, senders, segments.baseline);
    const k = combine(koaBaseline, senders, segments.koa);
    h.temporal = await ingestHistoryStats(b.deps.temporal.client, integration.id, h.windows).catch((err: Error) => {
      b.log(`ingest: could not read the ingest workflows' histories: ${err.message}`);
      return undefined;
    });
    h.groupRows = await insertGroupSize(b.metricsUrl).catch(() => undefined);
    logRun(b, 'baseline', p);
    logRun(b, 'koa', k);
    logRun(b, 'hooksync', h);
    levels.push({
      senders,
      hooksync: h,
      baseline: p,
      koa: k,
      /** hooksync / lean baseline, events per second accepted and upserted. */
      ratio: h.appliedPerSecond / p.appliedPerSecond,
      /** lean baseline / hooksync CPU per event (own processes and their backends): above 1, hooksync spends less. */
      cpuEfficiency: p.cpuMsPerEvent / h.cpuMsPerEvent,
      /** The same with every PostgreSQL process of the cluster counted. */
      cpuEfficiencyAll: p.cpuMsPerEventAll / h.cpuMsPerEventAll,
      /** hooksync / the Koa handler with hooksync's SQL, events per second. */
      ratioKoa: h.appliedPerSecond / k.appliedPerSecond,
    });
  }
  return { levels, warmup, baselineChildren: [lean.child, koa.child] };
}

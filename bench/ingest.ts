import crypto from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createTableSql } from '../src/integrations/sql';
import { createIntegration } from '../src/services/integrations';
import type { ServiceDeps } from '../src/services/deps';
import { spawnNode, type Child } from './children';
import { CpuMeter, describeCpu, type CpuUsage } from './cpu';
import { closedLoop, summarize, webhookClient } from './load';
import { childEnv, type Resources } from './stack';
import { CustomerStream } from './stripe-events';

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
  /** From the last answer until the table reflected everything, ms (Temporal's backlog). */
  applyLagMs: number;
  p50Ms: number;
  p99Ms: number;
  /** Events of this run by kind (created, updated, deleted, stale = out of order). */
  mix: Record<string, number>;
  /** CPU used by each process from the first request until the table reflected everything. */
  cpu: CpuUsage;
}

export interface IngestLevel {
  senders: number;
  hooksync: IngestRun;
  baseline: IngestRun;
  /** hooksync / baseline, events per second accepted and upserted. */
  ratio: number;
}

export interface IngestOptions {
  levels: number[];
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
  origin: string;
  path: string;
  table: string;
  stream: CustomerStream;
  client: ReturnType<typeof webhookClient>;
}

/** Polls until the table holds exactly what the accepted events say: every customer at its newest accepted version. */
async function waitReflected(pool: pg.Pool, sys: System, timeoutMs: number): Promise<number> {
  const sql = `SELECT count(*)::int AS rows, coalesce(sum(extract(epoch FROM updated)), 0)::float8 AS sum FROM "${sys.table}"`;
  const deadline = performance.now() + timeoutMs;
  let last = { rows: 0, sum: 0 };
  for (;;) {
    const { rows } = await pool.query<{ rows: number; sum: number }>(sql);
    last = rows[0]!;
    const now = performance.now();
    const want = sys.stream.expected();
    if (last.rows === want.rows && last.sum === want.sumTs) return now;
    if (now > deadline) {
      throw new Error(`${sys.name}: the table holds ${last.rows} rows (sum ${last.sum}), expected ${want.rows} (sum ${want.sumTs}) after ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function runLevel(pool: pg.Pool, sys: System, senders: number, seconds: number, meter: CpuMeter): Promise<IngestRun> {
  const before = { ...sys.stream.counts };
  const cpuBefore = meter.snapshot();
  const r = await closedLoop({
    client: sys.client,
    path: sys.path,
    senders,
    durationMs: seconds * 1000,
    next: () => sys.stream.next(),
  });
  const started = performance.now() - r.elapsedMs;
  const sendEnd = performance.now();
  const reflected = await waitReflected(pool, sys, 120_000);
  const cpu = CpuMeter.since(cpuBefore, meter.snapshot());
  const lat = summarize(r.latencies);
  const mix = Object.fromEntries(Object.entries(sys.stream.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
  return {
    senders,
    sent: r.sent,
    accepted: r.accepted,
    failed: r.failed,
    failures: r.failures,
    sendSeconds: r.elapsedMs / 1000,
    acceptedPerSecond: r.accepted / (r.elapsedMs / 1000),
    appliedPerSecond: r.accepted / ((reflected - started) / 1000),
    applyLagMs: Math.max(0, reflected - sendEnd),
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    mix,
    cpu,
  };
}

/**
 * Signed Stripe events at 1, 16 and 64 closed-loop senders into hooksync's API and into the plain
 * handler, alternating per level, each into its own identically shaped table; a level ends when
 * the table reflects every accepted event.
 */
export async function ingestPhase(deps: ServiceDeps, res: Resources, opts: IngestOptions): Promise<{ levels: IngestLevel[]; baselineChild: Child }> {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64url')}`;
  const integration = await createIntegration(deps, { service: stripeCustomerV1.service, webhookSecret: secret });
  const baselineTable = `bench_baseline_${crypto.randomBytes(2).toString('hex')}`;
  for (const stmt of createTableSql(stripeCustomerV1, baselineTable)) await deps.pool.query(stmt);

  const baselineChild = spawnNode({
    name: 'baseline-ingest',
    args: [...opts.nodeFlags, '--import', 'tsx', path.join(__dirname, 'baseline-ingest.ts')],
    env: childEnv({ DATABASE_URL: opts.databaseUrl, BENCH_TABLE: baselineTable, BENCH_SECRET: secret, PORT: '0' }),
    logDir: opts.logDir,
  });
  res.add('baseline-ingest', () => baselineChild.stop());
  opts.cpu.track('baseline-ingest', baselineChild.pid);
  const line = await baselineChild.waitForOutput(/baseline-ingest listening on \d+/, 60_000);
  const baselinePort = Number(/on (\d+)/.exec(line)![1]);

  const maxSenders = Math.max(...opts.levels);
  const systems: System[] = [
    {
      name: 'baseline',
      origin: `http://127.0.0.1:${baselinePort}`,
      path: '/v1/webhooks/baseline',
      table: baselineTable,
      stream: new CustomerStream({ name: `baseline-${integration.id}`, customers: opts.customers, secret }),
      client: webhookClient(`http://127.0.0.1:${baselinePort}`, maxSenders),
    },
    {
      name: 'hooksync',
      origin: opts.apiUrl,
      path: `/v1/webhooks/${integration.id}`,
      table: integration.table,
      stream: new CustomerStream({ name: `hooksync-${integration.id}`, customers: opts.customers, secret }),
      client: webhookClient(opts.apiUrl, maxSenders),
    },
  ];
  res.add('webhook clients', async () => {
    await Promise.allSettled(systems.map((s) => s.client.destroy()));
  });

  // Warm-up (JIT, connections, ingest workflows started), not measured.
  for (const sys of systems) {
    opts.log(`ingest: warming up ${sys.name} (${opts.warmupSeconds} s at ${maxSenders} senders)…`);
    await runLevel(deps.pool, sys, maxSenders, opts.warmupSeconds, opts.cpu);
  }

  const levels: IngestLevel[] = [];
  for (const senders of opts.levels) {
    const runs = {} as Record<System['name'], IngestRun>;
    for (const sys of systems) {
      const r = await runLevel(deps.pool, sys, senders, opts.seconds, opts.cpu);
      runs[sys.name] = r;
      opts.log(
        `ingest: ${sys.name.padEnd(8)} ${String(senders).padStart(2)} senders: ${Math.round(r.appliedPerSecond)} ev/s accepted+upserted ` +
          `(${Math.round(r.acceptedPerSecond)}/s accepted, lag ${Math.round(r.applyLagMs)} ms), p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms` +
          (r.failed ? `, ${r.failed} failed ${JSON.stringify(r.failures)}` : ''),
      );
      opts.log(`        ${describeCpu(r.cpu, r.accepted, 1000, 'events')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    levels.push({ senders, hooksync: runs.hooksync, baseline: runs.baseline, ratio: runs.hooksync.appliedPerSecond / runs.baseline.appliedPerSecond });
  }
  return { levels, baselineChild };
}

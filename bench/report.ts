import Table from 'cli-table3';
import type { DeliveryResult } from './delivery';
import type { FanoutLevel, FanoutRun } from './fanout';
import type { IngestLevel } from './ingest';
import type { LatencyResult } from './latency';
import type { SteadyRate } from './steady';

export interface MemoryFigure {
  /** VmHWM at the end of the run. */
  peakRssMb: number;
  /** VmRSS at the end of the run. */
  rssMb: number;
  /** VmHWM once the process was ready, before any load (API and worker only). */
  readyPeakRssMb?: number;
}

export interface TargetCheck {
  name: string;
  value: number;
  goal: string;
  pass: boolean;
}

export interface BenchResults {
  mode: 'quick' | 'full';
  startedAt: string;
  durationSeconds: number;
  machine: { cores: number; cpuModel: string; memoryGb: number; node: string; postgres: string; temporalCli: string; loadAverage: string };
  settings: Record<string, unknown>;
  ingest?: IngestLevel[];
  ingestWarmup?: { sent: number; failed: number; failures: Record<string, number> };
  steady?: SteadyRate[];
  delivery?: DeliveryResult[];
  latency?: LatencyResult;
  fanout?: FanoutLevel[];
  memory: Record<string, MemoryFigure | undefined>;
  targets: TargetCheck[];
}

/** The fan-out level whose CPU per delivered row has a target. */
const FANOUT_CHECKED = 40;

/** At a steady rate, hooksync's CPU per event (every process) / the lean handler's may be at most this. */
const STEADY_CPU_GOAL: Record<number, number> = { 100: 1.2, 400: 1.0 };
const WORKER_MS_PER_EVENT_GOAL = 0.05;

/**
 * The targets: ingest flat out at 64 senders ≥ 1.2× the lean handler, every ingest request
 * answered 2xx; at a steady 400 events/s CPU per event (every process, the whole PostgreSQL
 * cluster) at most the lean handler's, at 100 events/s within 1.2×, the worker under 0.05 ms per
 * event at every rate; delivery of the backlog at page 1,000 ≥ 1.0× the plain loop (≥ 1.3× at
 * 100,000 rows), at page 200 ≥ 0.8×; on-insert p99 < 250 ms with ingest at 400 events/s; and at 40 on-insert
 * targets CPU per delivered row at or below the plain fan-out loop's (every row delivered).
 */
export function checkTargets(r: Pick<BenchResults, 'ingest' | 'ingestWarmup' | 'steady' | 'delivery' | 'latency' | 'fanout'>, rows = 0): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const top = r.ingest?.reduce((a, b) => (b.senders > a.senders ? b : a));
  if (top) checks.push({ name: `ingest at ${top.senders} senders vs plain handler`, value: top.ratio, goal: '≥ 1.2×', pass: top.ratio >= 1.2 });
  for (const s of r.steady ?? []) {
    const goal = STEADY_CPU_GOAL[s.ratePerSecond];
    if (goal !== undefined) {
      checks.push({ name: `steady ${s.ratePerSecond} ev/s CPU vs plain handler`, value: s.cpuRatio, goal: `≤ ${goal.toFixed(1)}×`, pass: s.cpuRatio <= goal && s.hooksync.failed === 0 });
    }
    const worker = s.hooksync.cpuMsPerEventByProcess.worker ?? NaN;
    checks.push({ name: `steady ${s.ratePerSecond} ev/s worker CPU per event`, value: worker, goal: `< ${WORKER_MS_PER_EVENT_GOAL} ms`, pass: worker < WORKER_MS_PER_EVENT_GOAL });
  }
  if (r.ingest?.length) {
    const sent = r.ingest.reduce((n, l) => n + l.hooksync.sent, r.ingestWarmup?.sent ?? 0);
    const failed = r.ingest.reduce((n, l) => n + l.hooksync.failed, r.ingestWarmup?.failed ?? 0);
    checks.push({ name: 'ingest responses 2xx', value: failed, goal: `all ${sent.toLocaleString('en-US')} 2xx`, pass: failed === 0 });
  }
  for (const d of r.delivery ?? []) {
    const goal = d.pageSize >= 1000 ? (rows >= 100_000 ? 1.3 : 1.0) : 0.8;
    checks.push({ name: `delivery page ${d.pageSize} vs plain loop`, value: d.ratio, goal: `≥ ${goal.toFixed(1)}×`, pass: d.ratio >= goal });
  }
  if (r.latency) checks.push({ name: 'on-insert end-to-end p99', value: r.latency.p99Ms, goal: '< 250 ms', pass: r.latency.missing === 0 && r.latency.p99Ms < 250 });
  const f = r.fanout?.find((l) => l.targets === FANOUT_CHECKED);
  if (f) {
    checks.push({
      name: `fan-out ${FANOUT_CHECKED} targets CPU per row vs plain loop`,
      value: f.cpuEfficiency,
      goal: 'CPU ≥ 1.0×',
      pass: f.hooksync.missing === 0 && f.cpuEfficiency >= 1.0,
    });
  }
  return checks;
}

const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '—');
const ms = (v: number) => (!Number.isFinite(v) ? '—' : v < 10 ? `${v.toFixed(2)} ms` : v < 100 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—');
const verdict = (c: TargetCheck | undefined) => (c ? `${c.goal}\n${c.pass ? 'PASS' : 'FAIL'}` : '');

/** CPU ms per row (or drain) of each process, two per line: `api 0.012 · worker 0.034`. */
function perRow(byProcess: Record<string, number>, digits = 3): string {
  const parts = Object.entries(byProcess).map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(digits) : '—'}`);
  const lines = [];
  for (let i = 0; i < parts.length; i += 2) lines.push(parts.slice(i, i + 2).join(' · '));
  return lines.join('\n');
}

/** CPU ms per event of each process: `api 0.21 · worker 0.04 · temporal 0.05 · pg 0.16` (pg: the backends serving them). */
function cpuBreakdown(byProcess: Record<string, number>): string {
  return Object.entries(byProcess)
    .map(([k, v]) => `${k.startsWith('baseline-') ? 'handler' : k} ${v.toFixed(2)}`)
    .join(' · ');
}

export function renderTable(r: BenchResults): string {
  const table = new Table({
    head: ['', 'hooksync', 'plain baseline', 'ratio', 'target'],
    style: { head: [], border: [], compact: false },
    wordWrap: false,
  });
  const checks = r.targets;
  for (const level of r.ingest ?? []) {
    const check = checks.find((c) => c.name === `ingest at ${level.senders} senders vs plain handler`);
    const cell = (run: typeof level.hooksync, showLag: boolean) =>
      `${n0(run.appliedPerSecond)} ev/s accepted+upserted\n` +
      `p50 ${ms(run.p50Ms)} · p99 ${ms(run.p99Ms)}\n` +
      `CPU ${run.cpuMsPerEvent.toFixed(2)} ms/event:\n${cpuBreakdown(run.cpuMsPerEventByProcess)}` +
      `\nwith the whole cluster ${run.cpuMsPerEventAll.toFixed(2)} ms/event` +
      (showLag ? `\n(${n0(run.acceptedPerSecond)}/s 2xx, +${n0(run.applyLagMs)} ms to upsert)` : '') +
      (run.failed ? `\n${run.failed} failed ${JSON.stringify(run.failures)}` : '');
    table.push([
      `Ingest, ${level.senders} sender${level.senders === 1 ? '' : 's'}`,
      cell(level.hooksync, true),
      cell(level.baseline, false),
      `${x(level.ratio)}\n\nCPU ${x(level.cpuEfficiency)}\n(cluster ${x(level.cpuEfficiencyAll)})\n\nvs Koa handler\n${x(level.ratioKoa)}\n(${n0(level.koa.appliedPerSecond)} ev/s)`,
      verdict(check),
    ]);
  }
  for (const s of r.steady ?? []) {
    const cpuCheck = checks.find((c) => c.name === `steady ${s.ratePerSecond} ev/s CPU vs plain handler`);
    const workerCheck = checks.find((c) => c.name === `steady ${s.ratePerSecond} ev/s worker CPU per event`);
    const cell = (run: SteadyRate['hooksync']) =>
      `CPU ${run.cpuMsPerEvent.toFixed(3)} ms/event:\n${perRow(run.cpuMsPerEventByProcess)}\n` +
      `p50 ${ms(run.p50Ms)} · p99 ${ms(run.p99Ms)}\napplied ${n0(run.lagMs)} ms after the last answer` +
      (run.failed ? `\n${run.failed} failed ${JSON.stringify(run.failures)}` : '');
    table.push([
      `Ingest, steady\n${s.ratePerSecond} ev/s, open loop\n(CPU: every process,\nidle time included)`,
      cell(s.hooksync),
      cell(s.baseline),
      `CPU ${x(s.cpuRatio)}\n(hooksync / plain)`,
      [cpuCheck, workerCheck].filter(Boolean).map((c) => `${c!.name.includes('worker') ? 'worker ' : ''}${verdict(c)}`).join('\n'),
    ]);
  }
  for (const d of r.delivery ?? []) {
    const check = checks.find((c) => c.name === `delivery page ${d.pageSize} vs plain loop`);
    const cell = (run: typeof d.hooksync) =>
      `${n0(run.rowsPerSecond)} rows/s\n${n0(run.rows)} rows in ${run.seconds.toFixed(2)} s\n` +
      `first page after ${n0(run.firstPageMs)} ms\nCPU ${n0(run.cpuMsPer10kRows)} ms/10k rows`;
    const durable = d.durableWrite
      ? `\nsync write per page ${d.durableWrite.syncMs.toFixed(2)} ms (async ${d.durableWrite.asyncMs.toFixed(2)} ms), ${(100 * d.durableWrite.shareOfPage).toFixed(1)}% of a page`
      : '';
    const a = d.anatomy;
    const anatomy = a
      ? `\na page: query ${ms(a.query)} · JSON ${ms(a.json)}\nsigning ${ms(a.signing)} · POST ${ms(a.post)}\nrecord ${ms(a.record)}; in the run ${ms(d.msPerPage)}`
      : '';
    table.push([
      `Delivery, page ${d.pageSize.toLocaleString('en-US')}\n(HTTPS, Basic Auth;\nfrom trigger / first query)`,
      cell(d.hooksync) + durable + anatomy,
      cell(d.baseline),
      `${x(d.ratio)}\n\n\nCPU ${x(d.cpuEfficiency)}`,
      verdict(check),
    ]);
  }
  if (r.latency) {
    const l = r.latency;
    const check = checks.find((c) => c.name === 'on-insert end-to-end p99');
    table.push([
      `On-insert end to end\n${l.ratePerSecond} ev/s for ${l.seconds} s`,
      `p50 ${ms(l.p50Ms)} · p99 ${ms(l.p99Ms)}\nmax ${ms(l.maxMs)}; ${l.arrived}/${l.accepted} arrived` +
        (l.missing ? `, ${l.missing} MISSING` : '') +
        `\n(request alone: p50 ${ms(l.requestP50Ms)} · p99 ${ms(l.requestP99Ms)})` +
        `\nsend → upsert p50 ${ms(l.legs.toUpsertP50Ms)} · p99 ${ms(l.legs.toUpsertP99Ms)}` +
        `\nupsert → receiver p50 ${ms(l.legs.upsertToReceiverP50Ms)} · p99 ${ms(l.legs.upsertToReceiverP99Ms)}`,
      '',
      '',
      verdict(check),
    ]);
  }
  for (const f of r.fanout ?? []) {
    const check = checks.find((c) => c.name === `fan-out ${f.targets} targets CPU per row vs plain loop`);
    const cell = (run: FanoutRun, perDrain: string) =>
      `p50 ${ms(run.p50Ms)} · p99 ${ms(run.p99Ms)}\nmax ${ms(run.maxMs)}; ${n0(run.arrived)}/${n0(run.deliveries)} arrived` +
      (run.missing ? `, ${n0(run.missing)} MISSING (${run.incompleteTargets} targets)` : '') +
      `\n(request alone: p50 ${ms(run.requestP50Ms)} · p99 ${ms(run.requestP99Ms)})` +
      `\n${Number.isFinite(run.rowsPerPost) ? run.rowsPerPost.toFixed(1) : '—'} rows per POST` +
      `\nCPU ${run.cpuMsPerRow.toFixed(3)} ms/row:\n${perRow(run.cpuMsPerRowByProcess)}` +
      (perDrain ? `\n${perDrain}` : '') +
      (run.failed ? `\n${run.failed} ingest requests failed ${JSON.stringify(run.failures)}` : '');
    const t = f.hooksync.temporal;
    // A drain is an activity; while rows keep coming one reads page after page for up to 10 s, so
    // few start in a short window: Temporal's work per target and second tells its cost then.
    const hooksyncDrains = t
      ? `per target and second: ${t.historyEventsPerTargetSecond.toFixed(2)} history events,\n${t.workflowTasksPerTargetSecond.toFixed(2)} workflow tasks; ` +
        (t.drains > 0
          ? `${n0(t.drains)} drains started;\nper drain ${t.historyEventsPerDrain.toFixed(1)} history events, ` +
            `${t.workflowTasksPerDrain.toFixed(2)} workflow tasks,\n${t.signalsPerDrain.toFixed(2)} signals; CPU ms:\n${perRow(t.cpuMsPerDrainByProcess, 2)}`
          : 'no drain started\n(those running read on)')
      : 'histories not read';
    const b = f.baseline;
    const baselineDrains = b.drains !== undefined ? `${n0(b.drains)} drains; CPU ms per drain:\n${perRow(b.cpuMsPerDrainByProcess, 2)}` : '';
    table.push([
      `Fan-out, ${f.targets} on-insert\ntarget${f.targets === 1 ? '' : 's'}, ${f.ratePerSecond} ev/s\nfor ${f.seconds} s\n(send → receiver)`,
      cell(f.hooksync, hooksyncDrains),
      cell(b, baselineDrains),
      `p50 ${x(f.p50Ratio)}\np99 ${x(f.p99Ratio)}\n\n\n\nCPU ${x(f.cpuEfficiency)}`,
      verdict(check),
    ]);
  }
  const mem = (name: string) => {
    const m = r.memory[name];
    return m ? `${n0(m.peakRssMb)} MB` + (m.readyPeakRssMb ? ` (${n0(m.readyPeakRssMb)} MB when ready)` : '') : '—';
  };
  table.push([
    'Peak memory (VmHWM)',
    `api ${mem('api')}\nworker ${mem('worker')}`,
    `lean handler ${mem('baseline-lean-ingest')}\nKoa handler ${mem('baseline-ingest')}\nloop ${mem('baseline-delivery')}\n(load generator ${mem('loadgen')})` +
      (r.fanout ? `\nfan-out handler ${mem('baseline-fanout-ingest')}\nfan-out loop ${mem('baseline-fanout-loop')}` : ''),
    '',
    '',
  ]);
  const m = r.machine;
  const header =
    `hooksync bench (${r.mode}): ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB, Node ${m.node}, ` +
    `PostgreSQL ${m.postgres}, Temporal CLI ${m.temporalCli} dev server (as \`hooksync dev\` runs it); ${Math.round(r.durationSeconds)} s`;
  const passed = checks.filter((c) => c.pass).length;
  const answers = checks.find((c) => c.name === 'ingest responses 2xx');
  const footer =
    (checks.length ? `Targets: ${passed} of ${checks.length} met. ` : '') +
    (answers ? `Ingest requests: ${answers.pass ? answers.goal : `${answers.value} not 2xx (goal: ${answers.goal})`}, warm-up included. ` : '') +
    'Ingest baseline: a bare node:http handler, `stripe` signature check, columns computed in JavaScript, one conditional upsert per request ' +
    '(the Koa handler with hooksync\'s own SQL beside it); the load generator in its own process. ' +
    'CPU: ms per event (per 10k rows) of hooksync\'s API, worker, Temporal server and their PostgreSQL backends, or of the ' +
    'baseline and its backends; "CPU n×" = baseline CPU / hooksync CPU (above 1, hooksync needs less); "cluster": with every process ' +
    'of the PostgreSQL server counted. Steady: "CPU n×" = hooksync / plain, every process (below 1, hooksync needs less). ' +
    (r.fanout
      ? 'Fan-out: latency from each ingest request to each (row, target) arrival, "p50/p99 n×" = hooksync / plain (below 1, hooksync is faster); ' +
        'CPU ms per delivered (row, target), the receiver left out, "pg background" = the server\'s WAL writer, checkpointer and autovacuum (the whole cluster\'s). '
      : '') +
    `Load average ${r.machine.loadAverage}, on ${r.machine.cores} cores.`;
  return [header, table.toString(), footer].filter(Boolean).join('\n');
}

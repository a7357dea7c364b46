import { stripeIntegration, type Bench } from './context';
import { CLUSTER } from './cpu';
import { ingestHistoryStats } from './history';
import { runSegment, startBaseline, type System } from './ingest';
import { summarize } from '../test/support/load';

export type SteadyRate = Awaited<ReturnType<typeof steadyPhase>>['rates'][number];
type Segment = Awaited<ReturnType<typeof runSegment>>;

/**
 * What an ordinary steady arrival rate costs, where flat-out throughput says little: signed events
 * from the load generator, open loop at each rate (the i-th request leaves at i/rate whatever the
 * answers), into hooksync and into the lean hand-written handler in turn. CPU per event of every
 * process that serves the system, the whole PostgreSQL cluster included, from before the first
 * send until the table reflects every event: idle time and polling between events count, as they
 * do on a real machine.
 */
export async function steadyPhase(b: Bench, opts: { rates: number[]; seconds: number; customers: number }) {
  const { secret, integration } = await stripeIntegration(b);
  const lean = await startBaseline(b, 'baseline-lean-ingest', secret);
  const stream = (name: string) => ({ name: `steady-${name}-${integration.id}`, customers: opts.customers, secret });
  const baseline: System = {
    name: 'baseline',
    origin: lean.origin,
    path: '/v1/webhooks/baseline',
    table: lean.table,
    stream: stream('baseline'),
    processes: ['baseline-lean-ingest'],
  };
  const hooksync: System = {
    name: 'hooksync',
    origin: b.apiUrl,
    path: `/v1/webhooks/${integration.id}`,
    table: integration.table,
    stream: stream('hooksync'),
    processes: ['api', 'worker', 'temporal'],
  };
  // The ingest workflows of this integration started, connections made; not measured.
  for (const sys of [baseline, hooksync]) await runSegment(b, sys, { ratePerSecond: 100, seconds: 1 });

  const rates = [];
  for (const [i, rate] of opts.rates.entries()) {
    const runs: Partial<Record<'hooksync' | 'baseline', ReturnType<typeof figures>>> = {};
    // Who goes first alternates from rate to rate.
    for (const sys of i % 2 === 0 ? [baseline, hooksync] : [hooksync, baseline]) {
      b.log(`steady: ${sys.name} at ${rate} events/s for ${opts.seconds} s…`);
      const seg = await runSegment(b, sys, { ratePerSecond: rate, seconds: opts.seconds });
      const f = figures(sys, seg);
      runs[sys.name as 'hooksync' | 'baseline'] = f;
      if (sys === hooksync) {
        f.temporal = await ingestHistoryStats(b.deps.temporal.client, integration.id, [seg.window]).catch(() => undefined);
        const t = f.temporal;
        if (t) b.log(`steady: Temporal: ${t.wakeUps} wake-ups, ${t.applies} applies of ${t.eventsPerApply.toFixed(1)} events, ${t.workflowTasks} workflow tasks, ${t.historyEvents} history events`);
      }
      b.log(
        `steady: ${sys.name} at ${rate}/s: ${f.cpuMsPerEvent.toFixed(3)} ms CPU per event ` +
          `(${Object.entries(f.cpuMsPerEventByProcess).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}), ` +
          `p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms, applied ${Math.round(f.lagMs)} ms after the last answer` +
          (f.failed ? `, ${f.failed} failed ${JSON.stringify(f.failures)}` : ''),
      );
    }
    const h = runs.hooksync!;
    const p = runs.baseline!;
    rates.push({
      ratePerSecond: rate,
      hooksync: h,
      baseline: p,
      /** hooksync / baseline CPU per event, all processes and the whole cluster: at most 1 means hooksync costs no more. */
      cpuRatio: h.cpuMsPerEvent / p.cpuMsPerEvent,
    });
  }
  return { rates, baselineChild: lean.child };
}

function figures(sys: System, seg: Segment) {
  const accepted = seg.load.accepted;
  const per = (name: string) => (seg.cpu[name] ?? NaN) / accepted;
  const byProcess = Object.fromEntries([...sys.processes, CLUSTER].map((p) => [p, per(p)]));
  const lat = summarize(seg.load.latencies);
  return {
    sent: seg.load.sent,
    accepted,
    failed: seg.load.failed,
    failures: seg.load.failures,
    /** From the first send until the table reflected every event, s. */
    seconds: seg.spanMs / 1000,
    /** From the last answer until then, ms. */
    lagMs: seg.lagMs,
    p50Ms: lat.p50,
    p99Ms: lat.p99,
    /** CPU ms per event: the system's processes and every process of the PostgreSQL cluster. */
    cpuMsPerEvent: Object.values(byProcess).reduce((a, v) => a + v, 0),
    /** The same per process (`postgres`: the whole cluster). */
    cpuMsPerEventByProcess: byProcess,
    /** The load generator's own, counted for neither. */
    loadgenCpuMsPerEvent: per('loadgen'),
    cpu: seg.cpu,
    /** hooksync only: what Temporal did, from the ingest workflows' histories. */
    temporal: undefined as Awaited<ReturnType<typeof ingestHistoryStats>> | undefined,
  };
}

import { deleteTarget } from '../src/services/targets';
import { CpuMeter } from './cpu';
import { ingestWorkflows, workflowTimings, type Window } from './history';
import { openLoop, summarize, webhookClient } from '../test/support/load';
import { SEARCH_ATTRIBUTES } from '../src/contract/names';
import { receiverTarget, stripeIntegration, type Bench } from './context';
import { CustomerStream } from '../test/support/stripe-events';

export type LatencyResult = Awaited<ReturnType<typeof latencyPhase>>;

const WARMUP_TAG = 1_000_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Temporal's hops while the events flowed: the ingest workflows' and the target's. */
async function hops(b: Bench, integrationId: string, targetId: string, window: Window) {
  const client = b.deps.temporal.client;
  const [ingest, httpsync] = await Promise.all([
    workflowTimings(client, ingestWorkflows(integrationId), window),
    workflowTimings(client, `${SEARCH_ATTRIBUTES.targetId} = '${targetId}'`, window),
  ]);
  const t = (x: { p50Ms: number; p99Ms: number }) => `${Math.round(x.p50Ms)}/${Math.round(x.p99Ms)} ms`;
  b.log(
    `        Temporal (p50/p99): ingest signal→task ${t(ingest.signalToTask)}, task (with the upsert) ${t(ingest.task)}; ` +
      `httpsync signal→task ${t(httpsync.signalToTask)}, task ${t(httpsync.task)}, activity queued ${t(httpsync.activityQueue)}, ` +
      `activity ${t(httpsync.activity)}`,
  );
  return { ingest, httpsync };
}

/**
 * An on-insert target, and Stripe events at a steady rate (open loop) into the API: for each
 * event, the time from sending its request until its row reaches the receiver.
 */
export async function latencyPhase(b: Bench, opts: { ratePerSecond: number; seconds: number; warmupSeconds: number }) {
  const { deps } = b;
  const { secret, integration } = await stripeIntegration(b);
  const target = await receiverTarget(b, integration.id, 200, 'on_insert');
  // Each customer is created, then updated half the run later: inserts and updates, and no version
  // superseded before it could be delivered (unless delivery takes longer than that).
  const customers = Math.max(1, Math.ceil((opts.ratePerSecond * (opts.seconds + opts.warmupSeconds)) / 2));
  const stream = new CustomerStream({ name: `latency-${integration.id}`, customers, secret, outOfOrder: 0, deletions: 0 });
  const client = webhookClient(b.apiUrl, 32);
  const path = `/v1/webhooks/${integration.id}`;
  try {
    // Warm-up: the ingest workflows start, the target's first deliveries run.
    const warm = await openLoop({
      client,
      path,
      ratePerSecond: opts.ratePerSecond,
      durationMs: opts.warmupSeconds * 1000,
      next: (i) => stream.next(WARMUP_TAG + i, i % customers),
    });
    // Not every warm-up row need arrive: one held back by an open transaction elsewhere in the
    // cluster waits for the target's recheck (1 s, doubling), which is no reason to wait here.
    for (const until = performance.now() + 3_000; b.receiver.tally(target.id).rows < warm.accepted && performance.now() < until; ) await sleep(20);

    b.log(`latency: ${opts.ratePerSecond} events/s for ${opts.seconds} s into an on-insert target…`);
    const total = Math.round(opts.ratePerSecond * opts.seconds);
    const sentAt = new Float64Array(total);
    const accepted = new Uint8Array(total);
    const cpu0 = await b.cpu.snapshot();
    const fromMs = Date.now();
    const r = await openLoop({
      client,
      path,
      ratePerSecond: opts.ratePerSecond,
      durationMs: opts.seconds * 1000,
      next: (i) => stream.next(i, (warm.sent + i) % customers),
      onSend: (i, at) => (sentAt[i] = at),
      onAnswer: (i, ok) => (accepted[i] = ok ? 1 : 0),
    });
    const arrivals = b.receiver.arrivals(target.id);
    const arrivedAll = () => accepted.every((a, i) => !a || arrivals.has(i));
    for (const until = performance.now() + 15_000; !arrivedAll() && performance.now() < until; ) await sleep(20);
    const cpu = CpuMeter.since(cpu0, await b.cpu.snapshot());
    const temporal = await hops(b, integration.id, target.id, { fromMs, toMs: Date.now() }).catch((err: Error) => {
      b.log(`latency: could not read the histories: ${err.message}`);
      return undefined;
    });

    const latencies: number[] = [];
    for (let i = 0; i < total; i++) {
      const at = arrivals.get(i);
      if (accepted[i] && at !== undefined) latencies.push(at - sentAt[i]!);
    }
    // Same machine, same wall clock: performance.now() + timeOrigin against PostgreSQL's now().
    const { rows: changed } = await deps.pool.query<{ seq: number; at: number }>(
      `SELECT (data->'metadata'->>'bench_seq')::int AS seq, extract(epoch FROM _changed_at)::float8 * 1000 AS at
         FROM "${integration.table}" WHERE (data->'metadata'->>'bench_seq')::int < $1`,
      [WARMUP_TAG],
    );
    const toUpsert: number[] = [];
    const toReceiver: number[] = [];
    for (const { seq, at } of changed) {
      const arrived = arrivals.get(seq);
      if (seq >= total || !accepted[seq] || arrived === undefined) continue;
      toUpsert.push(at - (performance.timeOrigin + sentAt[seq]!));
      toReceiver.push(performance.timeOrigin + arrived - at);
    }
    const e2e = summarize(latencies);
    const req = summarize(r.latencies);
    const up = summarize(toUpsert);
    const rx = summarize(toReceiver);
    const result = {
      ratePerSecond: opts.ratePerSecond,
      seconds: opts.seconds,
      sent: r.sent,
      accepted: r.accepted,
      arrived: latencies.length,
      /** Accepted events whose row never reached the receiver within the wait. */
      missing: r.accepted - latencies.length,
      /** From sending the ingest request to the row's arrival at the receiver, ms. */
      p50Ms: e2e.p50,
      p99Ms: e2e.p99,
      maxMs: e2e.max,
      /** The ingest request alone (2xx once committed into the inbox), ms. */
      requestP50Ms: req.p50,
      requestP99Ms: req.p99,
      /** Temporal's hops, from the histories: the ingest workflows and the target's workflow. */
      temporal,
      /**
       * Where the time goes, for the events whose row still holds their version at the end (the
       * row's _changed_at is when the upsert's transaction began): send → upsert, upsert → receiver.
       */
      legs: { toUpsertP50Ms: up.p50, toUpsertP99Ms: up.p99, upsertToReceiverP50Ms: rx.p50, upsertToReceiverP99Ms: rx.p99, samples: up.count },
      cpu,
    };
    b.log(
      `latency: p50 ${ms(e2e.p50)}, p99 ${ms(e2e.p99)}, ${result.missing} missing; send → upsert p50 ${ms(up.p50)} / p99 ${ms(up.p99)}, ` +
        `upsert → receiver p50 ${ms(rx.p50)} / p99 ${ms(rx.p99)} (${up.count} rows)`,
    );
    return result;
  } finally {
    await client.destroy().catch(() => {});
    await deleteTarget(deps, target.id).catch(() => {});
  }
}

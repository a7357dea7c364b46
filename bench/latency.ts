import crypto from 'node:crypto';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createIntegration } from '../src/services/integrations';
import { createTarget, deleteTarget } from '../src/services/targets';
import type { ServiceDeps } from '../src/services/deps';
import { CpuMeter, describeCpu, type CpuUsage } from './cpu';
import { workflowTimings, type WorkflowTimings } from './history';
import { openLoop, summarize, webhookClient } from '../test/support/load';
import { SEARCH_ATTRIBUTES } from '../src/workflows/names';
import type { Receiver } from './receiver';
import { CustomerStream } from '../test/support/stripe-events';

export interface LatencyResult {
  ratePerSecond: number;
  seconds: number;
  sent: number;
  accepted: number;
  arrived: number;
  /** Accepted events whose row never reached the receiver within the wait. */
  missing: number;
  /** From sending the ingest request to the row's arrival at the receiver, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The ingest request alone (2xx once committed into the inbox), ms. */
  requestP50Ms: number;
  requestP99Ms: number;
  /**
   * Where the time goes, for the events whose row still holds their version at the end (the
   * row's _changed_at is when the upsert's transaction began): send → upsert, upsert → receiver.
   */
  legs: { toUpsertP50Ms: number; toUpsertP99Ms: number; upsertToReceiverP50Ms: number; upsertToReceiverP99Ms: number; samples: number };
  /** Temporal's hops, from the histories: the ingest workflows and the target's workflow. */
  temporal?: { ingest: WorkflowTimings; httpsync: WorkflowTimings };
  cpu: CpuUsage;
}

export interface LatencyOptions {
  apiUrl: string;
  receiver: Receiver;
  ratePerSecond: number;
  seconds: number;
  warmupSeconds: number;
  cpu: CpuMeter;
  log: (msg: string) => void;
}

const WARMUP_TAG = 1_000_000;

/**
 * An on-insert target, and Stripe events at a steady rate (open loop) into the API: for each
 * event, the time from sending its request until its row reaches the receiver.
 */
export async function latencyPhase(deps: ServiceDeps, opts: LatencyOptions): Promise<LatencyResult> {
  const secret = `whsec_${crypto.randomBytes(24).toString('base64url')}`;
  const integration = await createIntegration(deps, { service: stripeCustomerV1.service, webhookSecret: secret });
  const target = await createTarget(deps, integration.id, {
    url: opts.receiver.url,
    periodSeconds: 3600,
    pageSize: 200,
    timeoutSeconds: 60,
    mode: 'on_insert',
  });
  // Each customer is created, then updated half the run later: inserts and updates, and no version
  // superseded before it could be delivered (unless delivery takes longer than that).
  const customers = Math.max(1, Math.ceil((opts.ratePerSecond * (opts.seconds + opts.warmupSeconds)) / 2));
  const stream = new CustomerStream({ name: `latency-${integration.id}`, customers, secret, outOfOrder: 0, deletions: 0 });
  const client = webhookClient(opts.apiUrl, 32);
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
    const warmDeadline = performance.now() + 3_000;
    while (opts.receiver.rows(target.id) < warm.accepted && performance.now() < warmDeadline) await new Promise((r) => setTimeout(r, 20));

    opts.log(`latency: ${opts.ratePerSecond} events/s for ${opts.seconds} s into an on-insert target…`);
    const total = Math.round(opts.ratePerSecond * opts.seconds);
    const sentAt = new Float64Array(total);
    const cpu0 = await opts.cpu.snapshot();
    const fromMs = Date.now();
    const accepted = new Uint8Array(total);
    const r = await openLoop({
      client,
      path,
      ratePerSecond: opts.ratePerSecond,
      durationMs: opts.seconds * 1000,
      next: (i) => {
        const ev = stream.next(i, (warm.sent + i) % customers);
        const markAccepted = ev.accepted;
        ev.accepted = () => {
          accepted[i] = 1;
          markAccepted();
        };
        return ev;
      },
      onSend: (i, at) => (sentAt[i] = at),
    });
    const waitDeadline = performance.now() + 15_000;
    const arrivedAll = () => {
      for (let i = 0; i < total; i++) if (accepted[i] && !opts.receiver.arrivals.has(i)) return false;
      return true;
    };
    while (!arrivedAll() && performance.now() < waitDeadline) await new Promise((r) => setTimeout(r, 20));

    const cpu = CpuMeter.since(cpu0, await opts.cpu.snapshot());
    const toMs = Date.now();
    let temporal: LatencyResult['temporal'];
    try {
      const [ingest, httpsync] = await Promise.all([
        workflowTimings(deps.temporal.client, `${SEARCH_ATTRIBUTES.integrationId} = '${integration.id}' AND WorkflowType = 'ingestWorkflow'`, fromMs, toMs),
        workflowTimings(deps.temporal.client, `${SEARCH_ATTRIBUTES.targetId} = '${target.id}'`, fromMs, toMs),
      ]);
      temporal = { ingest, httpsync };
      const t = (x: { p50Ms: number; p99Ms: number }) => `${Math.round(x.p50Ms)}/${Math.round(x.p99Ms)} ms`;
      opts.log(
        `        Temporal (p50/p99): ingest signal→task ${t(ingest.signalToTask)}, task (with the upsert) ${t(ingest.task)}; ` +
          `httpsync signal→task ${t(httpsync.signalToTask)}, task ${t(httpsync.task)}, activity queued ${t(httpsync.activityQueue)}, ` +
          `activity ${t(httpsync.activity)}`,
      );
    } catch (err) {
      opts.log(`latency: could not read the histories: ${(err as Error).message}`);
    }
    opts.log(`        ${describeCpu(cpu, total, 1000, 'events')}`);
    const latencies: number[] = [];
    let missing = 0;
    for (let i = 0; i < total; i++) {
      if (!accepted[i]) continue;
      const at = opts.receiver.arrivals.get(i);
      if (at === undefined) missing += 1;
      else latencies.push(at - sentAt[i]!);
    }
    const e2e = summarize(latencies);
    const req = summarize(r.latencies);

    // Same machine, same wall clock: performance.now() + timeOrigin against PostgreSQL's now().
    const { rows: changed } = await deps.pool.query<{ seq: number; at: number }>(
      `SELECT (data->'metadata'->>'bench_seq')::int AS seq, extract(epoch FROM _changed_at)::float8 * 1000 AS at
         FROM "${integration.table}" WHERE (data->'metadata'->>'bench_seq')::int < $1`,
      [WARMUP_TAG],
    );
    const toUpsert: number[] = [];
    const toReceiver: number[] = [];
    for (const { seq, at } of changed) {
      const arrived = opts.receiver.arrivals.get(seq);
      if (seq >= total || !accepted[seq] || arrived === undefined) continue;
      toUpsert.push(at - (performance.timeOrigin + sentAt[seq]!));
      toReceiver.push(performance.timeOrigin + arrived - at);
    }
    const up = summarize(toUpsert);
    const rx = summarize(toReceiver);
    return {
      ratePerSecond: opts.ratePerSecond,
      seconds: opts.seconds,
      sent: r.sent,
      accepted: r.accepted,
      arrived: latencies.length,
      missing,
      p50Ms: e2e.p50,
      p99Ms: e2e.p99,
      maxMs: e2e.max,
      requestP50Ms: req.p50,
      requestP99Ms: req.p99,
      temporal,
      legs: { toUpsertP50Ms: up.p50, toUpsertP99Ms: up.p99, upsertToReceiverP50Ms: rx.p50, upsertToReceiverP99Ms: rx.p99, samples: up.count },
      cpu,
    };
  } finally {
    await client.destroy().catch(() => {});
    await deleteTarget(deps, target.id).catch(() => {});
  }
}

import crypto from 'node:crypto';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createIntegration } from '../src/services/integrations';
import { createTarget, deleteTarget } from '../src/services/targets';
import type { ServiceDeps } from '../src/services/deps';
import { CpuMeter, describeCpu, type CpuUsage } from './cpu';
import { openLoop, summarize, webhookClient } from './load';
import type { Receiver } from './receiver';
import { CustomerStream } from './stripe-events';

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
  /** The ingest request alone (2xx once durable in Temporal), ms. */
  requestP50Ms: number;
  requestP99Ms: number;
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
    const warmDeadline = performance.now() + 10_000;
    while (opts.receiver.rows(target.id) < warm.accepted && performance.now() < warmDeadline) await new Promise((r) => setTimeout(r, 20));

    opts.log(`latency: ${opts.ratePerSecond} events/s for ${opts.seconds} s into an on-insert target…`);
    const total = Math.round(opts.ratePerSecond * opts.seconds);
    const sentAt = new Float64Array(total);
    const cpu0 = opts.cpu.snapshot();
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

    const cpu = CpuMeter.since(cpu0, opts.cpu.snapshot());
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
      cpu,
    };
  } finally {
    await client.destroy().catch(() => {});
    await deleteTarget(deps, target.id).catch(() => {});
  }
}

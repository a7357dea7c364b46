/**
 * The load generator, in a process of its own so that neither the systems measured nor the bench's
 * bookkeeping share its event loop: it signs Stripe events (one CustomerStream per system, kept
 * across runs) and sends them closed-loop (n senders, for a time or a number of events) or
 * open-loop (a fixed rate, whatever the answers).
 *
 * Driven over IPC: {run: LoadCommand, id} → {id, result: LoadReport} or {id, error}.
 */
import type { Pool } from 'undici';
import { closedLoop, openLoop, webhookClient } from '../test/support/load';
import { CustomerStream } from '../test/support/stripe-events';

export interface LoadCommand {
  stream: { name: string; customers: number; secret: string };
  origin: string;
  path: string;
  /** Closed loop with this many senders… */
  senders?: number;
  /** …or open loop at this rate. */
  ratePerSecond?: number;
  durationMs: number;
  /** Closed loop: stop after this many events. */
  count?: number;
}

export interface LoadReport {
  sent: number;
  accepted: number;
  failed: number;
  failures: Record<string, number>;
  /** Wall clock (epoch ms, sub-millisecond) of the first request and of the last answer. */
  startedAt: number;
  endedAt: number;
  latencies: number[];
  /** What the system's table must now hold (all runs on this stream so far). */
  expected: { rows: number; sumTs: number };
  /** Events of this run by kind. */
  mix: Record<string, number>;
}

const streams = new Map<string, CustomerStream>();
const clients = new Map<string, Pool>();
const wallClock = () => performance.timeOrigin + performance.now();

async function run(cmd: LoadCommand): Promise<LoadReport> {
  let stream = streams.get(cmd.stream.name);
  if (!stream) streams.set(cmd.stream.name, (stream = new CustomerStream(cmd.stream)));
  // Enough connections for the most senders asked of this origin (an open loop uses as many as it needs).
  const connections = Math.max(cmd.senders ?? 64, 64);
  let client = clients.get(cmd.origin);
  if (!client) clients.set(cmd.origin, (client = webhookClient(cmd.origin, connections)));
  const before = { ...stream.counts };
  const startedAt = wallClock();
  const s = stream;
  const r =
    cmd.ratePerSecond !== undefined
      ? await openLoop({ client, path: cmd.path, ratePerSecond: cmd.ratePerSecond, durationMs: cmd.durationMs, next: () => s.next() })
      : await closedLoop({ client, path: cmd.path, senders: cmd.senders ?? 1, durationMs: cmd.durationMs, count: cmd.count, next: () => s.next() });
  return {
    sent: r.sent,
    accepted: r.accepted,
    failed: r.failed,
    failures: r.failures,
    startedAt,
    endedAt: startedAt + r.elapsedMs,
    latencies: [...r.latencies],
    expected: stream.expected(),
    mix: Object.fromEntries(Object.entries(stream.counts).map(([k, v]) => [k, v - before[k as keyof typeof before]])),
  };
}

process.on('message', (msg: { id: number; run: LoadCommand } | { exit: true }) => {
  if ('exit' in msg) {
    void Promise.allSettled([...clients.values()].map((c) => c.destroy())).finally(() => process.exit(0));
    return;
  }
  run(msg.run).then(
    (result) => process.send!({ id: msg.id, result }),
    (err: Error) => process.send!({ id: msg.id, error: err.stack ?? err.message }),
  );
});
process.once('SIGTERM', () => process.exit(0));
process.send!({ ready: true });

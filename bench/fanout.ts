import crypto from 'node:crypto';
import type { Pool } from 'undici';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createTableSql } from '../src/integrations/sql';
import { deleteTarget } from '../src/services/targets';
import { nextMessage, type Child } from '../test/support/children';
import { openLoop, summarize, webhookClient } from '../test/support/load';
import { CustomerStream } from '../test/support/stripe-events';
import { receiverTarget, spawnBaseline, stripeIntegration, type Bench } from './context';
import { BACKGROUND, CpuMeter } from './cpu';
import { targetHistoryStats, targetWorkflows, workflowTimings } from './history';

export interface FanoutOptions {
  /** On-insert targets (and plain routes) per level, e.g. 1, 10, 40, 100. */
  targets: number[];
  ratePerSecond: number;
  seconds: number;
  warmupSeconds: number;
  /** How long after the last request the rows may take to reach every target before the level reports what is missing. */
  timeoutSeconds: number;
}

export type FanoutLevel = Awaited<ReturnType<typeof fanoutPhase>>['levels'][number];
export type FanoutRun = Awaited<ReturnType<typeof measure>>;

const WARMUP_TAG = 1_000_000;
/** Creating and deleting targets: a few at a time (each create makes a verification POST and starts a workflow). */
const AT_ONCE = 8;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '—');

/** One side of a level: where its events go, who receives its rows, whose CPU counts. */
interface Contender {
  name: 'hooksync' | 'baseline';
  client: Pool;
  path: string;
  secret: string;
  /** The senders as the receiver tells them apart: target ids, or the loop's route names. */
  senders: string[];
  /** CPU of these processes and of the PostgreSQL backends serving them, by the name shown. */
  processes: Record<string, string>;
  /** The plain loop only: whether it has sent all it ever will (every cursor at the table's last pk). */
  settled?: () => Promise<boolean>;
  /** The plain loop only: its drains so far (hooksync's are read from the histories). */
  drains?: () => Promise<number>;
  /** The plain loop only: what became of rows missing at the end (by bench_seq). */
  explainMissing?: (seqs: number[]) => Promise<string>;
}

async function inBatches<T>(items: T[], each: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += AT_ONCE) await Promise.all(items.slice(i, i + AT_ONCE).map(each));
}

/** Until every accepted event's row reached every sender, or `deadline` (performance.now()), or `settled`. */
async function waitArrived(b: Bench, c: Contender, accepted: Uint8Array, deadline: number): Promise<void> {
  // Per sender, the first event not yet seen there: rows arrive roughly in order, so each poll
  // looks at few of them.
  const next = new Array<number>(c.senders.length).fill(0);
  let settledChecked = 0;
  for (;;) {
    let all = true;
    c.senders.forEach((sender, k) => {
      const arrivals = b.receiver.arrivals(sender);
      let i = next[k]!;
      while (i < accepted.length && (!accepted[i] || arrivals.has(i))) i++;
      next[k] = i;
      if (i < accepted.length) all = false;
    });
    const now = performance.now();
    if (all || now > deadline) return;
    if (c.settled && now - settledChecked > 250) {
      settledChecked = now;
      // Every cursor at the end and rows still missing: the pk cursor passed them for good.
      if (await c.settled()) return;
    }
    await sleep(20);
  }
}

/**
 * Warm-up, then `seconds` of signed events at a steady rate (open loop, each a new customer) into
 * the contender's ingest, and the wait until every row reached every sender: latency from each
 * request's send to each arrival, CPU per delivered row.
 */
async function measure(b: Bench, c: Contender, opts: FanoutOptions) {
  const n = c.senders.length;
  const warmTotal = Math.round(opts.ratePerSecond * opts.warmupSeconds);
  const total = Math.round(opts.ratePerSecond * opts.seconds);
  // Every event a new customer: one insert per event, each row delivered once to each sender.
  const stream = new CustomerStream({ name: `fanout-${c.senders[0]}`, customers: warmTotal + total, secret: c.secret, outOfOrder: 0, deletions: 0 });

  // Warm-up: connections, JIT, the ingest workflows and the targets' first drains.
  const warm = await openLoop({ client: c.client, path: c.path, ratePerSecond: opts.ratePerSecond, durationMs: opts.warmupSeconds * 1000, next: (i) => stream.next(WARMUP_TAG + i, i) });
  const warmDone = () => c.senders.every((s) => b.receiver.tally(s).rows >= warm.accepted);
  for (const until = performance.now() + 15_000; !warmDone() && performance.now() < until; ) await sleep(20);
  if (!warmDone()) b.log(`fan-out: ${c.name}, ${n} targets: not every warm-up row arrived within 15 s; measuring anyway`);

  const before = c.senders.map((s) => ({ rows: b.receiver.tally(s).rows, pages: b.receiver.tally(s).pages }));
  const sentAt = new Float64Array(total);
  const accepted = new Uint8Array(total);
  const drains0 = await c.drains?.();
  const cpu0 = await b.cpu.snapshot();
  const fromMs = Date.now();
  const started = performance.now();
  const r = await openLoop({
    client: c.client,
    path: c.path,
    ratePerSecond: opts.ratePerSecond,
    durationMs: opts.seconds * 1000,
    next: (i) => stream.next(i, warmTotal + i),
    onSend: (i, at) => (sentAt[i] = at),
    onAnswer: (i, ok) => (accepted[i] = ok ? 1 : 0),
  });
  await waitArrived(b, c, accepted, performance.now() + opts.timeoutSeconds * 1000);
  const cpu = CpuMeter.since(cpu0, await b.cpu.snapshot());
  const drains = drains0 === undefined ? undefined : (await c.drains!()) - drains0;
  const window = { fromMs, toMs: Date.now() };
  const seconds = (performance.now() - started) / 1000;

  // Every (row, sender) pair: its latency, or missing.
  const latencies = new Float64Array(r.accepted * n);
  let arrived = 0;
  const missingBySender: Record<string, number> = {};
  const missingSeqs = new Set<number>();
  for (const sender of c.senders) {
    const arrivals = b.receiver.arrivals(sender);
    for (let i = 0; i < total; i++) {
      if (!accepted[i]) continue;
      const at = arrivals.get(i);
      if (at !== undefined) latencies[arrived++] = at - sentAt[i]!;
      else {
        missingBySender[sender] = (missingBySender[sender] ?? 0) + 1;
        missingSeqs.add(i);
      }
    }
  }
  const e2e = summarize(latencies.subarray(0, arrived));
  const req = summarize(r.latencies);
  const missing = r.accepted * n - arrived;
  if (missing > 0) {
    const worst = Object.entries(missingBySender).sort((a, z) => z[1] - a[1]).slice(0, 3).map(([s, m]) => `${s}: ${m}`);
    b.log(
      `fan-out: ${c.name}, ${n} targets: ${missing} of ${r.accepted * n} deliveries missing ${c.settled ? 'when the loop had nothing left to send' : `after ${opts.timeoutSeconds} s`}, ` +
        `at ${Object.keys(missingBySender).length} of ${n} senders (${worst.join(', ')})` +
        (c.explainMissing ? `; ${await c.explainMissing([...missingSeqs]).catch((err: Error) => err.message)}` : ''),
    );
  }
  const posts = c.senders.reduce((a, s, k) => a + b.receiver.tally(s).pages - before[k]!.pages, 0);
  const rowsPosted = c.senders.reduce((a, s, k) => a + b.receiver.tally(s).rows - before[k]!.rows, 0);

  // CPU ms of each process and of the backends serving them together (`pg`), and the server's background processes.
  const used: Record<string, number> = {};
  for (const [shown, p] of Object.entries(c.processes)) used[shown] = cpu[p] ?? 0;
  used.pg = Object.values(c.processes).reduce((a, p) => a + (cpu[`pg:${p}`] ?? 0), 0);
  used['pg background'] = cpu[BACKGROUND] ?? 0;
  const totalMs = Object.values(used).reduce((a, v) => a + v, 0);
  const per = (units: number) => Object.fromEntries(Object.entries(used).map(([k, v]) => [k, units > 0 ? v / units : NaN]));
  return {
    targets: n,
    sent: r.sent,
    accepted: r.accepted,
    failed: r.failed,
    failures: r.failures,
    /** accepted × targets. */
    deliveries: r.accepted * n,
    arrived,
    missing,
    /** Senders that lacked at least one row at the end. */
    incompleteTargets: Object.keys(missingBySender).length,
    /** From sending the ingest request to the row's arrival at the receiver, over every (row, target) pair, ms. */
    p50Ms: e2e.p50,
    p99Ms: e2e.p99,
    maxMs: e2e.max,
    /** The ingest request alone, ms. */
    requestP50Ms: req.p50,
    requestP99Ms: req.p99,
    /** From the first request until the last row arrived (or the wait gave up), s. */
    seconds,
    posts,
    rowsPerPost: posts ? rowsPosted / posts : NaN,
    /** CPU ms over the measurement: every process, the bench's own included. */
    cpu,
    /** CPU ms per delivered (row, target) of the processes that count (see `cpuMsPerRowByProcess`), together. */
    cpuMsPerRow: arrived ? totalMs / arrived : NaN,
    /** The same per process: `pg` the backends serving them, `pg background` the server's WAL writer, checkpointer, autovacuum. */
    cpuMsPerRowByProcess: per(arrived),
    /** CPU ms per process in all, to divide by drains. */
    cpuMsByProcess: used,
    /** The plain loop's drains over the measurement (a route's run at a tick that found rows). */
    drains,
    window,
  };
}

function logRun(b: Bench, name: string, r: FanoutRun, drains: string): void {
  const parts = Object.entries(r.cpuMsPerRowByProcess).map(([k, v]) => `${k} ${v.toFixed(3)}`);
  b.log(
    `fan-out: ${name.padEnd(8)} ${String(r.targets).padStart(3)} targets: p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, max ${ms(r.maxMs)}; ` +
      `${r.arrived}/${r.deliveries} arrived in ${r.seconds.toFixed(1)} s, ${r.rowsPerPost.toFixed(1)} rows per POST; ` +
      `CPU ${r.cpuMsPerRow.toFixed(3)} ms/row (${parts.join(', ')}); ${drains}`,
  );
}

/** The plain side: its ingest handler and its loop, each in its own process, for the whole phase. */
async function startPlain(b: Bench) {
  const table = `bench_fanout_${crypto.randomBytes(2).toString('hex')}`;
  const routesTable = `${table}_routes`;
  for (const stmt of createTableSql(stripeCustomerV1, table)) await b.deps.pool.query(stmt);
  await b.deps.pool.query(`CREATE TABLE "${routesTable}" (route text PRIMARY KEY, after_pk bigint NOT NULL DEFAULT 0)`);
  const secret = `whsec_${crypto.randomBytes(24).toString('base64url')}`;
  const ingest = spawnBaseline(b, 'baseline-fanout-ingest', { BENCH_TABLE: table, BENCH_SECRET: secret, PORT: '0' });
  const loop = spawnBaseline(b, 'baseline-fanout-loop', {}, true);
  const [line] = await Promise.all([
    ingest.waitForOutput(/baseline-fanout-ingest listening on \d+/, 60_000),
    nextMessage(loop, (m) => (m?.ready ? true : undefined), 60_000),
  ]);
  const client = webhookClient(`http://127.0.0.1:${/on (\d+)/.exec(line)![1]}`, 32);
  b.res.add('fan-out baseline client', () => client.destroy().catch(() => {}));
  return { table, routesTable, secret, ingest, loop, client };
}

type Plain = Awaited<ReturnType<typeof startPlain>>;
/** What the loop did since it started: drains that found rows, pages POSTed, rows in them, failures. */
type LoopCounts = { drains: number; pages: number; rows: number; failures: number };

const ask = <T>(child: Child, msg: unknown, key: string, timeoutMs = 60_000): Promise<T> => {
  const answer = nextMessage(child, (m) => m?.[key] ?? (m?.error ? Promise.reject(new Error(`${child.name}: ${m.error}`)) : undefined), timeoutMs);
  child.proc.send(msg as object);
  return answer as Promise<T>;
};

/** The plain loop with `n` routes, each from the start of an emptied table. */
async function runPlain(b: Bench, plain: Plain, n: number, opts: FanoutOptions) {
  const { table, routesTable } = plain;
  await b.deps.pool.query(`TRUNCATE "${table}", "${routesTable}"`);
  const prefix = `loop-${crypto.randomBytes(3).toString('hex')}`;
  const routes = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  await b.deps.pool.query(`INSERT INTO "${routesTable}" (route) SELECT unnest($1::text[])`, [routes]);
  await ask(plain.loop, { start: { table, routesTable, url: b.receiver.url, integrationId: 'svi_plain', service: stripeCustomerV1.service } }, 'started');
  try {
    const run = await measure(
      b,
      {
        name: 'baseline',
        client: plain.client,
        path: '/v1/webhooks/plain',
        secret: plain.secret,
        senders: routes,
        processes: { handler: 'baseline-fanout-ingest', loop: 'baseline-fanout-loop' },
        drains: async () => (await ask<LoopCounts>(plain.loop, { counts: true }, 'counts')).drains,
        explainMissing: async (seqs) => {
          const { rows } = await b.deps.pool.query<{ rows: number; passed: number }>(
            `SELECT count(*)::int AS rows, count(*) FILTER (WHERE pk <= (SELECT min(after_pk) FROM "${routesTable}"))::int AS passed
               FROM "${table}" WHERE (data->'metadata'->>'bench_seq')::int = ANY($1::int[])`,
            [seqs],
          );
          return `${rows[0]!.rows} of those ${seqs.length} rows are in the table, ${rows[0]!.passed} of them at or below every route's cursor (passed by the pk cursor)`;
        },
        settled: async () => {
          const { rows } = await b.deps.pool.query<{ done: boolean }>(
            `SELECT coalesce((SELECT max(pk) FROM "${table}"), 0) <= (SELECT min(after_pk) FROM "${routesTable}") AS done`,
          );
          return rows[0]!.done;
        },
      },
      opts,
    );
    return run;
  } finally {
    await ask<LoopCounts>(plain.loop, { stop: true }, 'stopped');
  }
}

/** `n` on-insert targets of one new integration, each to the receiver; deleted at the end. */
async function runHooksync(b: Bench, n: number, opts: FanoutOptions) {
  const { secret, integration } = await stripeIntegration(b);
  const targets: string[] = [];
  const client = webhookClient(b.apiUrl, 32);
  try {
    await inBatches(
      Array.from({ length: n }, (_, i) => i),
      async () => targets.push((await receiverTarget(b, integration.id, 200, 'on_insert')).id),
    );
    const run = await measure(
      b,
      {
        name: 'hooksync',
        client,
        path: `/v1/webhooks/${integration.id}`,
        secret,
        senders: targets,
        processes: { api: 'api', worker: 'worker', temporal: 'temporal' },
      },
      opts,
    );
    const temporalClient = b.deps.temporal.client;
    const [temporal, hops] = await Promise.all([
      targetHistoryStats(temporalClient, integration.id, run.window, n),
      workflowTimings(temporalClient, targetWorkflows(integration.id), run.window),
    ]).catch((err: Error) => {
      b.log(`fan-out: could not read the targets' histories: ${err.message}`);
      return [undefined, undefined] as const;
    });
    if (hops) {
      const t = (x: { p50Ms: number; p99Ms: number }) => `${Math.round(x.p50Ms)}/${Math.round(x.p99Ms)} ms`;
      b.log(
        `        Temporal (p50/p99 over ${n} targets): signal→task ${t(hops.signalToTask)}, task ${t(hops.task)}, ` +
          `activity queued ${t(hops.activityQueue)}, activity ${t(hops.activity)}`,
      );
    }
    return { ...run, temporal: temporal && { ...temporal, hops } };
  } finally {
    await client.destroy().catch(() => {});
    await inBatches(targets, (id) => deleteTarget(b.deps, id).catch(() => {}));
  }
}

/** CPU ms per drain of each process (NaN without drains). */
const perDrain = (run: FanoutRun, drains: number) =>
  Object.fromEntries(Object.entries(run.cpuMsByProcess).map(([k, v]) => [k, drains > 0 ? v / drains : NaN]));

/**
 * Fan-out: 1, 10, 40 and 100 on-insert targets of one integration, at a steady rate of new
 * customers, against the plain fan-out loop (its own ingest handler and loop process) with as many
 * routes: latency from each ingest request to each arrival, CPU per delivered row, Temporal's work
 * per drain. Per level, the order of the two alternates, so drift in the machine's load is shared.
 */
export async function fanoutPhase(b: Bench, opts: FanoutOptions) {
  const plain = await startPlain(b);
  const levels = [];
  for (const [k, n] of opts.targets.entries()) {
    b.log(`fan-out: ${n} on-insert target${n === 1 ? '' : 's'} against ${n} plain route${n === 1 ? '' : 's'}, ${opts.ratePerSecond} events/s for ${opts.seconds} s…`);
    let hooksync: Awaited<ReturnType<typeof runHooksync>> | undefined;
    let baseline: FanoutRun | undefined;
    for (const side of k % 2 === 0 ? (['baseline', 'hooksync'] as const) : (['hooksync', 'baseline'] as const)) {
      if (side === 'hooksync') hooksync = await runHooksync(b, n, opts);
      else baseline = await runPlain(b, plain, n, opts);
    }
    const h = hooksync!;
    const p = baseline!;
    const hDrains = h.temporal?.drains ?? NaN;
    const temporal = h.temporal && { ...h.temporal, cpuMsPerDrainByProcess: perDrain(h, h.temporal.drains) };
    logRun(b, 'baseline', p, `${p.drains} drains`);
    logRun(
      b,
      'hooksync',
      h,
      temporal
        ? `${hDrains} drains (activities) started: ${temporal.historyEventsPerDrain.toFixed(1)} history events, ${temporal.workflowTasksPerDrain.toFixed(2)} workflow tasks, ` +
            `${temporal.signalsPerDrain.toFixed(2)} signals per drain; per target and second ${temporal.historyEventsPerTargetSecond.toFixed(2)} history events, ` +
            `${temporal.workflowTasksPerTargetSecond.toFixed(2)} workflow tasks`
        : 'no histories',
    );
    levels.push({
      targets: n,
      ratePerSecond: opts.ratePerSecond,
      seconds: opts.seconds,
      hooksync: { ...h, temporal },
      baseline: { ...p, cpuMsPerDrainByProcess: perDrain(p, p.drains ?? NaN) },
      /** hooksync / baseline latency: below 1, hooksync is faster. */
      p50Ratio: h.p50Ms / p.p50Ms,
      p99Ratio: h.p99Ms / p.p99Ms,
      /** baseline / hooksync CPU per delivered row: at or above 1, hooksync spends no more. */
      cpuEfficiency: p.cpuMsPerRow / h.cpuMsPerRow,
    });
  }
  return { levels, baselineChildren: [plain.ingest, plain.loop] };
}

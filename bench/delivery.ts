import type pg from 'pg';
import { announcePost } from '../src/db/post-in-flight';
import { deleteTarget } from '../src/services/targets';
import { targetInfo } from '../src/services/target-info';
import { nextMessage } from '../test/support/children';
import { CpuMeter, cpuPer } from './cpu';
import { receiverTarget, spawnBaseline, stripeIntegration, type Bench } from './context';
import { insertCustomerBacklog } from '../test/support/stripe-events';

export type DeliveryResult = Awaited<ReturnType<typeof deliveryPhase>>['results'][number];

/**
 * The backlog delivered to the HTTPS receiver by a new HTTP Sync target (timed from createTarget
 * until the receiver holds every row) and by the plain loop (from its start until the same).
 */
export async function deliveryPhase(b: Bench, opts: { rows: number; pageSizes: number[] }) {
  const { integration } = await stripeIntegration(b);
  // Warm-up, not measured: a target on the still empty table runs one (empty) sync, so the first
  // measured target does not pay for the worker's first HTTP Sync workflow and delivery activity.
  const warm = await receiverTarget(b, integration.id, 200, 'interval');
  for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    if (((await targetInfo(b.deps, warm.id).catch(() => undefined))?.syncs ?? 0) >= 1) break;
  }
  // What a durable cursor costs (docs/design.md, "Only durable cursors leave PostgreSQL"): the
  // synchronous write before each POST, against the same write committed asynchronously.
  const durable = await durableWriteCost(b.deps.pool, warm.id);
  b.log(`delivery: the synchronous write before each POST ${durable.syncMs.toFixed(2)} ms, asynchronously ${durable.asyncMs.toFixed(2)} ms`);
  await deleteTarget(b.deps, warm.id);
  b.log(`delivery: writing a backlog of ${opts.rows.toLocaleString('en-US')} rows into ${integration.table}…`);
  await insertCustomerBacklog(b.deps.pool, integration.table, opts.rows);
  const { rows: size } = await b.deps.pool.query<{ bytes: string }>(`SELECT avg(length(data::text))::int AS bytes FROM "${integration.table}"`);
  b.log(`delivery: rows of about ${size[0]!.bytes} bytes of data each`);

  const baselineChild = spawnBaseline(b, 'baseline-delivery', {}, true);
  await nextMessage(baselineChild, (m) => (m?.ready ? true : undefined), 60_000);

  const timeoutMs = Math.max(120_000, opts.rows * 5);
  /**
   * One sender, from the moment `start` is called until the receiver holds every row sent under
   * the key it returns (and `finished`, when given, resolved).
   */
  type Started = { key: string; finished?: Promise<unknown> };
  const measure = async (name: string, processes: string[], start: () => Promise<Started>) => {
    const cpu0 = await b.cpu.snapshot();
    const t0 = performance.now();
    const { key, finished } = await start();
    const [all] = await Promise.all([b.receiver.waitForRows(key, opts.rows, timeoutMs), finished]);
    const cpu = CpuMeter.since(cpu0, await b.cpu.snapshot());
    const seconds = (all - t0) / 1000;
    const tally = b.receiver.tally(key);
    const run = {
      /** The sender's name at the receiver: the target's id, or the loop's key. */
      key,
      rows: tally.rows,
      pages: tally.pages,
      seconds,
      rowsPerSecond: opts.rows / seconds,
      /** From the start (target creation, or the loop's start) until the first page arrived, ms. */
      firstPageMs: tally.firstAt! - t0,
      cpu,
      /** CPU ms per 10,000 rows of the sender and its PostgreSQL backends (hooksync: worker and Temporal). */
      cpuMsPer10kRows: cpuPer(cpu, processes, opts.rows / 10_000),
    };
    b.log(
      `delivery: ${name}: ${Math.round(run.rowsPerSecond)} rows/s (${seconds.toFixed(2)} s, ${run.pages} pages, ` +
        `first page after ${Math.round(run.firstPageMs)} ms)`,
    );
    return run;
  };

  const results = [];
  for (const pageSize of opts.pageSizes) {
    const baseline = await measure(`baseline page ${pageSize}`, ['baseline-delivery'], async () => {
      const key = `baseline-page-${pageSize}`;
      // Its answer is awaited too: a failing loop says why at once, not by a timeout of the wait for its rows.
      const finished = nextMessage(baselineChild, (m) => m?.done ?? (m?.error ? Promise.reject(new Error(m.error)) : undefined), timeoutMs);
      const { service, table, id: integrationId } = integration;
      baselineChild.proc.send({ run: { service, table, integrationId, url: b.receiver.url, pageSize, target: key } });
      return { key, finished };
    });
    // hooksync: a new target starts from the beginning and syncs at once.
    const hooksync = await measure(`hooksync page ${pageSize}`, ['worker', 'temporal'], async () => ({
      key: (await receiverTarget(b, integration.id, pageSize, 'interval')).id,
    }));
    await deleteTarget(b.deps, hooksync.key);
    results.push({
      pageSize,
      hooksync,
      baseline,
      ratio: hooksync.rowsPerSecond / baseline.rowsPerSecond,
      /** baseline / hooksync CPU per row: above 1, hooksync spends less. */
      cpuEfficiency: baseline.cpuMsPer10kRows / hooksync.cpuMsPer10kRows,
      /** The per-page synchronous write (ms, and its share of hooksync's time per page). */
      durableWrite: { ...durable, shareOfPage: durable.syncMs / ((hooksync.seconds * 1000) / hooksync.pages) },
    });
  }
  return { results, baselineChild };
}

/** Mean time of the page's synchronous announcement (announcePost) and of the same UPDATE committed asynchronously, `n` of each. */
async function durableWriteCost(pool: pg.Pool, targetId: string, n = 200): Promise<{ syncMs: number; asyncMs: number }> {
  const db = await pool.connect();
  const lazy = (id: string) =>
    db.query(`UPDATE sync_targets SET post_in_flight_until = now() WHERE id = $1 AND set_config('synchronous_commit', 'off', true) IS NOT NULL`, [id]);
  const time = async (write: () => Promise<unknown>) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await write();
    return (performance.now() - t0) / n;
  };
  try {
    await time(() => lazy(targetId));
    const syncMs = await time(() => announcePost(db, targetId, 1_000));
    const asyncMs = await time(() => lazy(targetId));
    return { syncMs, asyncMs };
  } finally {
    await db.query('UPDATE sync_targets SET post_in_flight_until = NULL WHERE id = $1', [targetId]).catch(() => {});
    db.release();
  }
}

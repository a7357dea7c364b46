import path from 'node:path';
import { stripeCustomerV1 } from '../src/integrations/stripe-customer-v1';
import { createIntegration } from '../src/services/integrations';
import { createTarget, deleteTarget, targetInfo } from '../src/services/targets';
import type { ServiceDeps } from '../src/services/deps';
import { nextMessage, spawnNode, type Child } from '../test/support/children';
import { CpuMeter, cpuPer, describeCpu, withApplicationName, type CpuUsage } from './cpu';
import type { Receiver } from './receiver';
import { childEnv, type Resources } from '../test/support/services';
import { insertCustomerBacklog } from '../test/support/stripe-events';

export interface DeliveryRun {
  rows: number;
  pages: number;
  seconds: number;
  rowsPerSecond: number;
  /** From the start (target creation, or the loop's start) until the first page arrived, ms. */
  firstPageMs: number;
  cpu: CpuUsage;
  /** CPU ms per 10,000 rows of the sender and its PostgreSQL backends (hooksync: worker and Temporal). */
  cpuMsPer10kRows: number;
}

export interface DeliveryResult {
  pageSize: number;
  hooksync: DeliveryRun;
  baseline: DeliveryRun;
  ratio: number;
  /** baseline / hooksync CPU per row: above 1, hooksync spends less. */
  cpuEfficiency: number;
}

export interface DeliveryOptions {
  rows: number;
  pageSizes: number[];
  databaseUrl: string;
  logDir: string;
  nodeFlags: string[];
  receiver: Receiver;
  cpu: CpuMeter;
  log: (msg: string) => void;
}

/**
 * The backlog delivered to the HTTPS receiver by a new HTTP Sync target (timed from createTarget
 * until the receiver holds every row) and by the plain loop (from its start until the same).
 */
export async function deliveryPhase(deps: ServiceDeps, res: Resources, opts: DeliveryOptions): Promise<{ results: DeliveryResult[]; baselineChild: Child; table: string }> {
  const integration = await createIntegration(deps, { service: stripeCustomerV1.service });
  // Warm-up, not measured: a target on the still empty table runs one (empty) sync, so the first
  // measured target does not pay for the worker's first HTTP Sync workflow and delivery activity.
  const warm = await createTarget(deps, integration.id, { url: opts.receiver.url, periodSeconds: 3600, pageSize: 200, timeoutSeconds: 60, mode: 'interval' });
  for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    if (((await targetInfo(deps, warm.id).catch(() => undefined))?.syncs ?? 0) >= 1) break;
  }
  await deleteTarget(deps, warm.id);
  opts.log(`delivery: writing a backlog of ${opts.rows.toLocaleString('en-US')} rows into ${integration.table}…`);
  await insertCustomerBacklog(deps.pool, integration.table, opts.rows);
  const { rows: size } = await deps.pool.query<{ bytes: string }>(`SELECT avg(length(data::text))::int AS bytes FROM "${integration.table}"`);
  opts.log(`delivery: rows of about ${size[0]!.bytes} bytes of data each`);

  const baselineChild = spawnNode({
    name: 'baseline-delivery',
    args: [...opts.nodeFlags, '--import', 'tsx', path.join(__dirname, 'baseline-delivery.ts')],
    env: childEnv({ DATABASE_URL: withApplicationName(opts.databaseUrl, 'baseline-delivery') }),
    logDir: opts.logDir,
    ipc: true,
  });
  res.add('baseline-delivery', () => baselineChild.stop());
  opts.cpu.track('baseline-delivery', baselineChild.pid);
  await nextMessage(baselineChild, (m) => (m?.ready ? true : undefined), 60_000);

  const timeoutMs = Math.max(120_000, opts.rows * 5);
  const results: DeliveryResult[] = [];
  for (const pageSize of opts.pageSizes) {
    // The plain loop.
    const key = `baseline-page-${pageSize}`;
    let cpu0 = await opts.cpu.snapshot();
    let t0 = performance.now();
    const finished = nextMessage(baselineChild, (m) => m?.done ?? (m?.error ? Promise.reject(new Error(m.error)) : undefined), timeoutMs);
    baselineChild.proc.send({
      run: { service: integration.service, table: integration.table, integrationId: integration.id, url: opts.receiver.url, pageSize, target: key },
    });
    // A failing loop says why at once, instead of a timeout of the wait for its rows.
    let [all] = await Promise.all([opts.receiver.waitForRows(key, opts.rows, timeoutMs), finished]);
    let cpu = CpuMeter.since(cpu0, await opts.cpu.snapshot());
    const baseline: DeliveryRun = {
      rows: opts.receiver.rows(key),
      pages: opts.receiver.pages(key),
      seconds: (all - t0) / 1000,
      rowsPerSecond: opts.rows / ((all - t0) / 1000),
      firstPageMs: opts.receiver.firstAt(key)! - t0,
      cpu,
      cpuMsPer10kRows: cpuPer(cpu, ['baseline-delivery'], opts.rows / 10_000),
    };
    opts.log(`delivery: baseline page ${pageSize}: ${Math.round(baseline.rowsPerSecond)} rows/s (${baseline.seconds.toFixed(2)} s, ${baseline.pages} pages)`);
    opts.log(`        ${describeCpu(baseline.cpu, opts.rows, 10_000, 'rows')}`);

    // hooksync: a new target starts from the beginning and syncs at once.
    cpu0 = await opts.cpu.snapshot();
    t0 = performance.now();
    const target = await createTarget(deps, integration.id, {
      url: opts.receiver.url,
      periodSeconds: 3600,
      pageSize,
      timeoutSeconds: 60,
      mode: 'interval',
    });
    all = await opts.receiver.waitForRows(target.id, opts.rows, timeoutMs);
    cpu = CpuMeter.since(cpu0, await opts.cpu.snapshot());
    const hooksync: DeliveryRun = {
      rows: opts.receiver.rows(target.id),
      pages: opts.receiver.pages(target.id),
      seconds: (all - t0) / 1000,
      rowsPerSecond: opts.rows / ((all - t0) / 1000),
      firstPageMs: opts.receiver.firstAt(target.id)! - t0,
      cpu,
      cpuMsPer10kRows: cpuPer(cpu, ['worker', 'temporal'], opts.rows / 10_000),
    };
    opts.log(`delivery: hooksync page ${pageSize}: ${Math.round(hooksync.rowsPerSecond)} rows/s (${hooksync.seconds.toFixed(2)} s, ${hooksync.pages} pages, first page after ${Math.round(hooksync.firstPageMs)} ms)`);
    opts.log(`        ${describeCpu(hooksync.cpu, opts.rows, 10_000, 'rows')}`);
    await deleteTarget(deps, target.id);
    results.push({
      pageSize,
      hooksync,
      baseline,
      ratio: hooksync.rowsPerSecond / baseline.rowsPerSecond,
      cpuEfficiency: baseline.cpuMsPer10kRows / hooksync.cpuMsPer10kRows,
    });
  }
  return { results, baselineChild, table: integration.table };
}

import type pg from 'pg';
import { integrationRef, pageReader } from '../src/db/integration-tables';
import { announcePost } from '../src/db/post-in-flight';
import { recordDelivered } from '../src/db/targets';
import { pageBody, pageId } from '../src/delivery/page';
import { generateSigningSecret, signatureHeaders } from '../src/delivery/signature';
import { postPage } from '../src/http/post-page';
import { parseTargetUrl } from '../src/http/target-url';
import { deleteTarget } from '../src/services/targets';
import { targetInfo } from '../src/services/target-info';
import { triggerTarget } from '../src/services/target-signals';
import { nextMessage } from '../test/support/children';
import { CpuMeter, cpuPer } from './cpu';
import { localTime, receiverTarget, spawnBaseline, stripeIntegration, type Bench } from './context';
import { insertCustomerBacklog } from '../test/support/stripe-events';

export type DeliveryResult = Awaited<ReturnType<typeof deliveryPhase>>['results'][number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the target has finished `n` syncs (its first, empty one after creation). */
async function syncsDone(b: Bench, targetId: string, n: number, timeoutMs = 30_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(50)) {
    if (((await targetInfo(b.deps, targetId).catch(() => undefined))?.syncs ?? 0) >= n) return;
  }
  throw new Error(`target ${targetId} did not finish ${n} sync(s) within ${timeoutMs / 1000} s`);
}

/**
 * A backlog delivered to the HTTPS receiver by an HTTP Sync target and by the plain loop, per
 * page size on an integration of its own: the target is made on the empty table (its first sync
 * finds nothing), the backlog written, then hooksync is timed from `trigger` until the receiver
 * holds every row, and the loop from its first query until the same. Who goes first alternates.
 */
export async function deliveryPhase(b: Bench, opts: { rows: number; pageSizes: number[] }) {
  const baselineChild = spawnBaseline(b, 'baseline-delivery', {}, true);
  await nextMessage(baselineChild, (m) => (m?.ready ? true : undefined), 60_000);
  const timeoutMs = Math.max(120_000, opts.rows * 5);

  const results = [];
  let durable: { syncMs: number; asyncMs: number } | undefined;
  for (const [i, pageSize] of opts.pageSizes.entries()) {
    const { integration } = await stripeIntegration(b);
    const target = await receiverTarget(b, integration.id, pageSize, 'interval');
    await syncsDone(b, target.id, 1);
    // What a durable cursor costs (docs/design.md, "Only durable cursors leave PostgreSQL"): the
    // synchronous write before each POST, against the same write committed asynchronously.
    if (!durable) {
      const scratch = await receiverTarget(b, integration.id, pageSize, 'interval');
      durable = await durableWriteCost(b.deps.pool, scratch.id);
      b.log(`delivery: the synchronous write before each POST ${durable.syncMs.toFixed(2)} ms, asynchronously ${durable.asyncMs.toFixed(2)} ms`);
      await deleteTarget(b.deps, scratch.id);
    }
    b.log(`delivery: writing a backlog of ${opts.rows.toLocaleString('en-US')} rows into ${integration.table}…`);
    await insertCustomerBacklog(b.deps.pool, integration.table, opts.rows);
    if (i === 0) {
      const { rows: size } = await b.deps.pool.query<{ bytes: string }>(`SELECT avg(length(data::text))::int AS bytes FROM "${integration.table}"`);
      b.log(`delivery: rows of about ${size[0]!.bytes} bytes of data each`);
    }
    const { service, table, id: integrationId } = integration;

    const runBaseline = () =>
      measure(b, `baseline page ${pageSize}`, ['baseline-delivery'], opts.rows, timeoutMs, async () => {
        const key = `baseline-page-${pageSize}`;
        const done = nextMessage<{ startedAt: number }>(baselineChild, (m) => m?.done ?? (m?.error ? Promise.reject(new Error(m.error)) : undefined), timeoutMs);
        baselineChild.proc.send({ run: { service, table, integrationId, url: b.receiver.url, pageSize, target: key } });
        // Timed from its first query (its own clock, as this process's).
        return { key, finished: done, startedAt: done.then((d) => localTime(d.startedAt)) };
      });
    const runHooksync = () =>
      measure(b, `hooksync page ${pageSize}`, ['worker', 'temporal'], opts.rows, timeoutMs, async () => {
        const startedAt = performance.now();
        await triggerTarget(b.deps, target.id);
        return { key: target.id, startedAt };
      });
    const [first, second] = i % 2 === 0 ? [runBaseline, runHooksync] : [runHooksync, runBaseline];
    const a = await first();
    const c = await second();
    const [baseline, hooksync] = i % 2 === 0 ? [a, c] : [c, a];
    const anatomy = await pageAnatomy(b, integration.id, table, pageSize);
    b.log(`delivery: a page of ${pageSize} rows, ms: ${Object.entries(anatomy).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
    await deleteTarget(b.deps, target.id);
    results.push({
      pageSize,
      hooksync,
      baseline,
      ratio: hooksync.rowsPerSecond / baseline.rowsPerSecond,
      /** baseline / hooksync CPU per row: above 1, hooksync spends less. */
      cpuEfficiency: baseline.cpuMsPer10kRows / hooksync.cpuMsPer10kRows,
      /** Where a page's time goes, ms (the same steps as the delivery activity's, one page at a time, in the bench process). */
      anatomy,
      /** hooksync's time per page in the run, ms. */
      msPerPage: (hooksync.seconds * 1000) / hooksync.pages,
      /** The per-page synchronous write (ms, and its share of hooksync's time per page). */
      durableWrite: { ...durable, shareOfPage: durable.syncMs / ((hooksync.seconds * 1000) / hooksync.pages) },
    });
  }
  return { results, baselineChild };
}

/**
 * One sender, from the moment `start` says (`startedAt`, as performance.now()) until the receiver
 * holds every row sent under the key it returns (and `finished`, when given, resolved).
 */
async function measure(
  b: Bench,
  name: string,
  processes: string[],
  rows: number,
  timeoutMs: number,
  start: () => Promise<{ key: string; startedAt: number | Promise<number>; finished?: Promise<unknown> }>,
) {
  const cpu0 = await b.cpu.snapshot();
  const { key, finished, startedAt } = await start();
  const [all, , t0] = await Promise.all([b.receiver.waitForRows(key, rows, timeoutMs), finished, startedAt]);
  const cpu = CpuMeter.since(cpu0, await b.cpu.snapshot());
  const seconds = (all - t0) / 1000;
  const tally = b.receiver.tally(key);
  const run = {
    /** The sender's name at the receiver: the target's id, or the loop's key. */
    key,
    rows: tally.rows,
    pages: tally.pages,
    seconds,
    rowsPerSecond: rows / seconds,
    /** From the start (`trigger`, or the loop's first query) until the first page arrived, ms. */
    firstPageMs: tally.firstAt! - t0,
    cpu,
    /** CPU ms per 10,000 rows of the sender and its PostgreSQL backends (hooksync: worker and Temporal). */
    cpuMsPer10kRows: cpuPer(cpu, processes, rows / 10_000),
  };
  b.log(`delivery: ${name}: ${Math.round(run.rowsPerSecond)} rows/s (${seconds.toFixed(2)} s, ${run.pages} pages, first page after ${Math.round(run.firstPageMs)} ms)`);
  return run;
}

/**
 * Where a page's time goes: the delivery activity's steps for `pages` pages of the backlog, one
 * after the other, timed apart in this process (the worker overlaps the next page's query with
 * the POST): the page query, the JSON body, the signature, the POST to the receiver (answered
 * once it has read the body) and the two bookkeeping writes (the synchronous announcement before
 * the POST, the cursor after it), on a scratch target.
 */
async function pageAnatomy(b: Bench, integrationId: string, table: string, pageSize: number, pages = 8) {
  const scratch = await receiverTarget(b, integrationId, pageSize, 'interval');
  const ref = (await integrationRef(b.deps.pool, integrationId))!;
  const source = { id: integrationId, service: ref.descriptor.service, table };
  const url = parseTargetUrl(b.receiver.url, { allowHttp: false });
  const secret = generateSigningSecret();
  const db = await b.deps.pool.connect();
  const sum = { query: 0, json: 0, signing: 0, post: 0, record: 0 };
  let n = 0;
  try {
    const read = pageReader(db, ref, pageSize);
    let cursor = { txid: '0', seq: '0' };
    // The first page warms the connection and the JIT, not counted.
    for (let i = 0; i <= pages; i++) {
      let t = performance.now();
      const lap = () => {
        const now = performance.now();
        const ms = now - t;
        t = now;
        return ms;
      };
      const page = await read(cursor);
      if (!page.last) break;
      const query = lap();
      const id = pageId(scratch.id, page.first!, page.last);
      const body = pageBody(source, page.rows);
      const json = lap();
      const headers = { 'hooksync-page-id': id, 'hooksync-target-id': `anatomy-${scratch.id}`, ...signatureHeaders(id, body, [secret]) };
      const signing = lap();
      await announcePost(db, scratch.id, 60_000, 0);
      let record = lap();
      const outcome = await postPage(url, body, headers, 60_000);
      if (!outcome.ok) throw new Error(`page anatomy: the receiver answered ${outcome.status ?? outcome.error}`);
      const post = lap();
      await recordDelivered(db, scratch.id, { cursor: page.last, generation: 0, rows: page.rows.length, postMs: post });
      record += lap();
      cursor = page.last;
      if (i === 0) continue;
      Object.assign(sum, { query: sum.query + query, json: sum.json + json, signing: sum.signing + signing, post: sum.post + post, record: sum.record + record });
      n += 1;
    }
  } finally {
    db.release();
    await deleteTarget(b.deps, scratch.id);
  }
  return Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, v / Math.max(1, n)])) as typeof sum;
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
    const syncMs = await time(() => announcePost(db, targetId, 1_000, 0));
    const asyncMs = await time(() => lazy(targetId));
    return { syncMs, asyncMs };
  } finally {
    await db.query('UPDATE sync_targets SET post_in_flight_until = NULL WHERE id = $1', [targetId]).catch(() => {});
    db.release();
  }
}
